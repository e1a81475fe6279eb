fn main() {
    ka_core::error::main_with("ka-abandon", ka_tree::abandon::run)
}
