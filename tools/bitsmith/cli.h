// What every `bitsmith` subcommand shares: a registry (one static registrar per
// subcommand file, like the op registry), option parsing and usage errors.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitsmith::cli {

// A mistake on the command line: exit code 2, as opposed to 1 for a bitsmith::Error.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Command {
  const char* name;
  const char*
      summary;  // one line for `bitsmith --help`; `bitsmith NAME --help` is the command's own
  int (*run)(const std::vector<std::string>& args);  // args after the subcommand name
  int order;                                         // position in `bitsmith --help`
};

struct CommandRegistrar {
  explicit CommandRegistrar(const Command& command);
};

// Registered commands, sorted by order.
std::vector<Command> commands();

struct OptionSpec {
  std::string name;  // "--mode"
  bool takes_value = false;
};

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;  // option -> every value given
  bool help = false;

  bool has(const std::string& option) const { return values.count(option) != 0; }
  // The option's value (the last one if repeated), or fallback.
  std::string get(const std::string& option, const std::string& fallback = "") const;
};

// Accepts "--opt VALUE", "--opt=VALUE", flags, "-h"/"--help" and "--" (only
// positionals follow). Throws UsageError for unknown options or missing values.
Args parse_args(const std::vector<std::string>& args, const std::vector<OptionSpec>& specs);

}  // namespace bitsmith::cli
