fn main() {
    ka_core::error::main_with("ka-remind", ka_remind::cli::run_remind)
}
