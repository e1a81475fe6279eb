fn main() {
    ka_core::error::main_with("ka-job", ka_build::job::run)
}
