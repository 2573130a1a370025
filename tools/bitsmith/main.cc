// `bitsmith`: the command-line front. Each subcommand lives in its own file and
// registers itself (cli.h); this file dispatches and turns errors into exit codes:
// 1 with "bitsmith: <ErrorClass>: <message>" for a bitsmith::Error, 2 for usage.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <new>

#include "cli.h"
#include "core/error.h"
#include "core/exact.h"

namespace bitsmith::cli {
namespace {

std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}

void print_usage(std::ostream& os) {
  os << "usage: bitsmith [--version] [--help] COMMAND [ARGS]\n\n"
        "Runs quantized neural networks (QONNX files) exactly.\n\ncommands:\n";
  for (const Command& c : commands()) {
    std::string name = c.name;
    name.resize(std::max<size_t>(name.size() + 2, 12), ' ');
    os << "  " << name << c.summary << "\n";
  }
  os << "\nRun 'bitsmith COMMAND --help' for a command's options.\n";
}

}  // namespace

CommandRegistrar::CommandRegistrar(const Command& command) {
  registry().push_back(command);
}

std::vector<Command> commands() {
  std::vector<Command> out = registry();
  std::stable_sort(out.begin(), out.end(),
                   [](const Command& a, const Command& b) { return a.order < b.order; });
  return out;
}

std::string Args::get(const std::string& option, const std::string& fallback) const {
  auto it = values.find(option);
  return it == values.end() || it->second.empty() ? fallback : it->second.back();
}

Args parse_args(const std::vector<std::string>& args, const std::vector<OptionSpec>& specs) {
  Args out;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_positional || a.size() < 2 || a[0] != '-') {
      out.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      out.help = true;
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (size_t eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const OptionSpec& s) { return s.name == name; });
    if (spec == specs.end()) throw UsageError("unknown option '" + name + "'");
    if (spec->takes_value) {
      if (!inline_value) {
        if (i + 1 >= args.size()) throw UsageError("option '" + name + "' needs a value");
        value = args[++i];
      }
      out.values[name].push_back(value);
    } else {
      if (inline_value) throw UsageError("option '" + name + "' takes no value");
      out.values[name].push_back("");
    }
  }
  return out;
}

}  // namespace bitsmith::cli

int main(int argc, char** argv) {
  using namespace bitsmith;
  using namespace bitsmith::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string& first = args[0];
  if (first == "-h" || first == "--help" || first == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (first == "--version" || first == "-V") {
    std::cout << "bitsmith " << BITSMITH_VERSION << "\n";
    return 0;
  }
  std::vector<Command> all = commands();
  auto cmd =
      std::find_if(all.begin(), all.end(), [&](const Command& c) { return first == c.name; });
  if (cmd == all.end()) {
    std::cerr << "bitsmith: UsageError: unknown command '" << first
              << "' (see 'bitsmith --help')\n";
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    return cmd->run(rest);
  } catch (const UsageError& e) {
    std::cerr << "bitsmith: UsageError: " << cmd->name << ": " << e.what() << " (see 'bitsmith "
              << cmd->name << " --help')\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "bitsmith: " << error_kind_name(e.kind()) << ": " << e.what() << "\n";
  } catch (const ExactOverflow& e) {
    std::cerr << "bitsmith: " << error_kind_name(ErrorKind::kRuntime) << ": " << e.what() << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << "bitsmith: " << error_kind_name(ErrorKind::kRuntime) << ": out of memory\n";
  } catch (const std::exception& e) {
    std::cerr << "bitsmith: internal error: " << e.what() << "\n";
  }
  return 1;
}
