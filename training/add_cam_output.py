"""Give an exported casting model a class-activation-map output, leaving its verdict output untouched.

A bundle exported before `train.py` learnt to add the map itself only has `defect_probability`. This adds the
same nodes the export now writes (see `Deployed.forward` in train.py), reading the classifier weights from the
graph itself, so the map is always weighted by the weights that make the verdict:

    features A (the last conv block's ReLU output, [1, C, h, w], the input of GlobalAveragePool)
    class_activation = Resize_bilinear(ReLU(Conv1x1(A, W_head)), to the input size)   # [1, 1, H, W]

i.e. sum_k w_k A_k per location (no bias: it shifts every location equally), negative evidence cut to 0, upsampled
to the model input. The daemon divides by the maximum to show it as 0..1. Nothing on the path to
`defect_probability` changes; `tests/unit/inference/cam-bundle.test.ts` checks the scores bit for bit against the
pinned scores of the unmodified model.

Usage: /usr/bin/python3 training/add_cam_output.py models/casting-cnn/model.onnx  (rewrites the file in place;
then run training/make_probes.py, which records the probes and the new sha256 in model.json).
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

CAM_OUTPUT = "class_activation"


def add_cam(model):
    graph = model.graph
    if any(o.name == CAM_OUTPUT for o in graph.output):
        raise SystemExit(f"the model already has a '{CAM_OUTPUT}' output")
    gap = [n for n in graph.node if n.op_type == "GlobalAveragePool"]
    gemm = [n for n in graph.node if n.op_type == "Gemm"]
    if len(gap) != 1 or len(gemm) != 1:
        raise SystemExit("expected one GlobalAveragePool and one Gemm (a single-net casting model)")
    features = gap[0].input[0]
    inits = {i.name: i for i in graph.initializer}
    weight = numpy_helper.to_array(inits[gemm[0].input[1]])
    trans_b = next((a.i for a in gemm[0].attribute if a.name == "transB"), 0)
    if trans_b != 1 or weight.shape[0] != 1:
        raise SystemExit(f"unexpected head weight {weight.shape} (transB {trans_b})")
    channels = weight.shape[1]
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    height, width = dims[2], dims[3]
    graph.initializer.extend(
        [
            numpy_helper.from_array(weight.reshape(1, channels, 1, 1).astype(np.float32), "cam.weight"),
            numpy_helper.from_array(np.array([1, 1, height, width], dtype=np.int64), "cam.size"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Conv", [features, "cam.weight"], ["/cam/Conv_output_0"], name="/cam/Conv", kernel_shape=[1, 1]),
            helper.make_node("Relu", ["/cam/Conv_output_0"], ["/cam/Relu_output_0"], name="/cam/Relu"),
            helper.make_node(
                "Resize",
                ["/cam/Relu_output_0", "", "", "cam.size"],
                [CAM_OUTPUT],
                name="/cam/Resize",
                mode="linear",
                coordinate_transformation_mode="pytorch_half_pixel",
            ),
        ]
    )
    graph.output.append(helper.make_tensor_value_info(CAM_OUTPUT, TensorProto.FLOAT, [1, 1, height, width]))
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    path = sys.argv[1]
    model = add_cam(onnx.load(path))
    onnx.save(model, path)
    print(f"{path}: added output '{CAM_OUTPUT}'")


if __name__ == "__main__":
    main()
