fn main() {
    ka_core::error::main_with("ka-show", ka_show::run)
}
