// Writing a generated project atomically: every file goes into a temporary sibling
// folder first; only a complete folder is renamed into place.
#include <filesystem>
#include <fstream>
#include <random>

#include "codegen/project.h"
#include "core/error.h"

namespace bitsmith::codegen {

namespace fs = std::filesystem;

namespace {
constexpr const char* kMarker = ".bitsmith-project";

void fail_io(const std::string& what) {
  throw Error(ErrorKind::kIo, what);
}
}  // namespace

void write_project(const Project& project, const std::string& dir) {
  const fs::path target = fs::absolute(fs::path(dir)).lexically_normal();
  std::error_code ec;
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec)) fail_io(dir + ": exists and is not a folder");
    if (!fs::is_empty(target, ec) && !fs::exists(target / kMarker, ec))
      fail_io(dir + ": folder is not empty and was not written by bitsmith; choose another -o");
  }
  fs::create_directories(target.parent_path(), ec);
  std::random_device rd;
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".tmp-" +
                                               std::to_string(rd() % 1000000));
  try {
    fs::create_directories(tmp);
    for (const GeneratedFile& f : project) {
      const fs::path p = tmp / f.path;
      fs::create_directories(p.parent_path());
      std::ofstream out(p, std::ios::binary);
      out << f.text;
      out.close();
      if (!out) fail_io(p.string() + ": cannot write");
    }
    std::ofstream(tmp / kMarker) << "written by bitsmith compile\n";
    // Replace the old project: move it aside, move the new one in, then delete it.
    fs::path old;
    if (fs::exists(target)) {
      old = tmp.string() + "-old";
      fs::rename(target, old);
    }
    fs::rename(tmp, target);
    if (!old.empty()) fs::remove_all(old);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    fail_io(dir + ": " + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace bitsmith::codegen
