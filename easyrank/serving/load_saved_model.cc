// Loads a SavedModel the way tensorflow_model_server does (tensorflow::LoadSavedModel, tag
// "serve", no XLA) and runs every signature on a batch of 2 rows of default inputs (empty
// serialized tf.Examples, "" or 0). Prints "OK <signature> <method>" per signature; exits 1
// on the first failure. Built and run by easyrank/serving/cc_check.py against the C++
// libraries of the installed tensorflow wheel only (no Python, as a model server runs).
// With --serve it reads "ID<TAB>VERSION_DIR" lines from stdin and checks each in turn, each in
// its own bundle and session (as one model server loads several models), writing the same lines
// to stdout, errors included, then "END ID <exit code>".
#include <iostream>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/core/framework/tensor.h"

namespace {

tensorflow::Tensor DefaultInput(const tensorflow::TensorInfo& info) {
  tensorflow::TensorShape shape({2});
  for (int i = 1; i < info.tensor_shape().dim_size(); ++i) {
    const auto size = info.tensor_shape().dim(i).size();
    shape.AddDim(size > 0 ? size : 1);
  }
  tensorflow::Tensor tensor(info.dtype(), shape);
  // A new DT_STRING tensor already holds empty strings (an empty tf.Example parses to defaults).
  if (info.dtype() == tensorflow::DT_FLOAT) {
    tensor.flat<float>().setZero();
  } else if (info.dtype() == tensorflow::DT_INT64) {
    tensor.flat<int64_t>().setZero();
  } else if (info.dtype() == tensorflow::DT_INT32) {
    tensor.flat<int32_t>().setZero();
  }
  return tensor;
}

// The check of one export; the one-shot exit code. Errors go to `err`.
int Check(const std::string& version_dir, std::ostream& out, std::ostream& err) {
  tensorflow::SavedModelBundle bundle;
  tensorflow::SessionOptions session_options;
  tensorflow::RunOptions run_options;
  auto status = tensorflow::LoadSavedModel(session_options, run_options, version_dir, {"serve"}, &bundle);
  if (!status.ok()) {
    err << "LoadSavedModel failed: " << status.ToString() << std::endl;
    return 1;
  }
  for (const auto& [name, signature] : bundle.meta_graph_def.signature_def()) {
    if (name.rfind("__", 0) == 0) continue;
    std::vector<std::pair<std::string, tensorflow::Tensor>> feeds;
    for (const auto& [key, info] : signature.inputs()) feeds.emplace_back(info.name(), DefaultInput(info));
    std::vector<std::string> fetches;
    for (const auto& [key, info] : signature.outputs()) fetches.push_back(info.name());
    std::vector<tensorflow::Tensor> outputs;
    status = bundle.session->Run(feeds, fetches, {}, &outputs);
    if (!status.ok()) {
      err << "signature " << name << " failed: " << status.ToString() << std::endl;
      return 1;
    }
    for (const auto& output : outputs) {
      if (output.dims() < 1 || output.dim_size(0) != 2) {
        err << "signature " << name << ": an output is not [2, ...]" << std::endl;
        return 1;
      }
    }
    out << "OK " << name << " " << signature.method_name() << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--serve") {
    std::string line;
    while (std::getline(std::cin, line)) {
      const auto tab = line.find('\t');
      if (tab == std::string::npos) continue;
      const std::string id = line.substr(0, tab);
      const int code = Check(line.substr(tab + 1), std::cout, std::cout);
      std::cout << "END " << id << " " << code << std::endl;
    }
    return 0;
  }
  if (argc != 2) {
    std::cerr << "usage: load_saved_model VERSION_DIR | load_saved_model --serve" << std::endl;
    return 2;
  }
  return Check(argv[1], std::cout, std::cerr);
}
