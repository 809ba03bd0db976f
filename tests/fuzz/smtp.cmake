# The SMTP session state machine (command parser, pipelining, DATA), built from its source so the
# fuzz build needs neither Asio nor OpenSSL.
add_executable(fuzz_smtp fuzz_smtp.cpp ${PROJECT_SOURCE_DIR}/adapters/smtp/session.cpp)
target_include_directories(fuzz_smtp PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_options(fuzz_smtp PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_options(fuzz_smtp PRIVATE -fsanitize=fuzzer,address,undefined)
