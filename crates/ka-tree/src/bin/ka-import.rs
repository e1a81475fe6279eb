fn main() {
    ka_core::error::main_with("ka-import", ka_tree::import::run)
}
