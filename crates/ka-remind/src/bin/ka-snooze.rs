fn main() {
    ka_core::error::main_with("ka-snooze", ka_remind::cli::run_snooze)
}
