fn main() {
    ka_core::error::main_with("ka-gitea", ka_gitea::run)
}
