// Loads a SavedModel the way tensorflow_model_server does (tensorflow::LoadSavedModel, tag
// "serve", no XLA) and runs every signature on a batch of 2 rows of default inputs (empty
// serialized tf.Examples, "" or 0). Prints "OK <signature> <method>" per signature; exits 1
// on the first failure. Built and run by easyrank/serving/cc_check.py against the C++
// libraries of the installed tensorflow wheel only (no Python, as a model server runs).
#include <iostream>
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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: load_saved_model VERSION_DIR" << std::endl;
    return 2;
  }
  tensorflow::SavedModelBundle bundle;
  tensorflow::SessionOptions session_options;
  tensorflow::RunOptions run_options;
  auto status = tensorflow::LoadSavedModel(session_options, run_options, argv[1], {"serve"}, &bundle);
  if (!status.ok()) {
    std::cerr << "LoadSavedModel failed: " << status.ToString() << std::endl;
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
      std::cerr << "signature " << name << " failed: " << status.ToString() << std::endl;
      return 1;
    }
    for (const auto& output : outputs) {
      if (output.dims() < 1 || output.dim_size(0) != 2) {
        std::cerr << "signature " << name << ": an output is not [2, ...]" << std::endl;
        return 1;
      }
    }
    std::cout << "OK " << name << " " << signature.method_name() << std::endl;
  }
  return 0;
}
