// flowtrackd's entry point: hands argv to the command dispatcher.
#include <unistd.h>

#include "adapters/cli/commands.hpp"

int main(int argc, char** argv) {
  return flowtrack::cli::run(std::vector<std::string>(argv + 1, argv + argc), environ);
}
