fn main() {
    ka_core::error::main_with("ka-close", ka_tree::close::run)
}
