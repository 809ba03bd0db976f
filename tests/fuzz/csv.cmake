# The CSV reader and writer of lead import/export (domain/csv.cpp, built from its source: it needs
# no library). Seeds: tests/fuzz/corpus/fuzz_csv/.
add_executable(fuzz_csv fuzz_csv.cpp ${PROJECT_SOURCE_DIR}/domain/csv.cpp)
target_include_directories(fuzz_csv PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_options(fuzz_csv PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_options(fuzz_csv PRIVATE -fsanitize=fuzzer,address,undefined)
