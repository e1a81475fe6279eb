fn main() {
    ka_core::error::main_with("ka-concat", ka_concat::run)
}
