fn main() {
    ka_core::error::main_with("ka-notice", ka_notice::cli::run)
}
