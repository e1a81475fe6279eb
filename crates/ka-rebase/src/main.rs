fn main() {
    ka_core::error::main_with("ka-rebase", ka_rebase::run)
}
