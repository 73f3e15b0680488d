"""Forward-pass backends: onnx (onnxruntime, CPU) and torch (transformers, CUDA), behind one interface."""
