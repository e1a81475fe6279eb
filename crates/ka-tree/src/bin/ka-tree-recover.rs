fn main() {
    ka_core::error::main_with("ka-tree-recover", ka_tree::recover_run)
}
