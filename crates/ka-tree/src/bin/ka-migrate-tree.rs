fn main() {
    ka_core::error::main_with("ka-migrate-tree", ka_tree::migrate::run)
}
