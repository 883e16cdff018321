import HDF5
import UNetCheckpoint

/// Writes the weights of a Keras functional U-Net for `model.load_weights`: Keras 3's
/// `.weights.h5` (`layers/<name>/vars/<i>`, matched by layer name) or the legacy HDF5 layout
/// (`layer_names`, `weight_names`, matched by order). Layers are named as Keras names them
/// automatically in a fresh session (`conv2d`, `conv2d_1`, …) unless the checkpoint recorded the
/// source's names.
enum KerasWriter {
    /// A weighted layer: its name and its variables in Keras' order and shapes.
    struct Layer {
        let name: String
        let variables: [(name: String, tensor: Tensor)]
    }

    /// The layers of a checkpoint in creation order, kernels turned back to HWIO.
    static func layers(of checkpoint: Checkpoint) throws(FormatError) -> [Layer] {
        var layers: [Layer] = []
        var counters: [String: Int] = [:]
        func autoName(_ base: String) -> String {
            let n = counters[base, default: 0]
            counters[base] = n + 1
            return n == 0 ? base : "\(base)_\(n)"
        }
        var current: (layer: String, variables: [(String, Tensor)])?
        func flush() {
            if let current { layers.append(Layer(name: current.layer, variables: current.variables)) }
            current = nil
        }
        let names = [
            "weight": "kernel", "bias": "bias", "running_mean": "moving_mean", "running_var": "moving_variance",
        ]
        for (spec, tensor) in checkpoint.orderedTensors {
            let isNorm = spec.layer.split(separator: ".").last?.hasPrefix("norm") == true
            if current?.layer != spec.layer {
                flush()
                current = (spec.layer, [])
            }
            var name = names[spec.key.split(separator: ".").last.map(String.init) ?? ""] ?? "kernel"
            if isNorm && name == "kernel" { name = "gamma" }
            if isNorm && name == "bias" { name = "beta" }
            current!.variables.append((name, tensor.shape.count == 4 ? tensor.permuted([2, 3, 1, 0]) : tensor))
        }
        flush()
        // Canonical layer names → Keras automatic names, by kind, in creation order.
        return layers.map { layer in
            let kind: String
            if layer.name.hasSuffix(".up") && checkpoint.architecture.version1?.upsample.kind == .transposedConv {
                kind = "conv2d_transpose"
            } else if layer.name.split(separator: ".").last?.hasPrefix("norm") == true {
                kind = "batch_normalization"
            } else {
                kind = "conv2d"
            }
            return Layer(name: autoName(kind), variables: layer.variables)
        }
    }

    /// Keras 3 `save_weights` layout.
    static func writeWeights(_ layers: [Layer], to path: String) throws {
        try AtomicWrite.replace(path) { temporary in
            try HDF5File.create(temporary) { root in
                let group = try root.createGroup("layers")
                for layer in layers {
                    let vars = try group.createGroup("\(layer.name)/vars")
                    try vars.setAttribute("name", string: layer.name)
                    for (index, variable) in layer.variables.enumerated() {
                        try write(variable.tensor, as: String(index), in: vars)
                    }
                }
                _ = try root.createGroup("vars")
            }
        }
    }

    /// Legacy HDF5 layout (`model.load_weights("x.h5")` matches layers by order).
    static func writeLegacy(_ layers: [Layer], to path: String) throws {
        try AtomicWrite.replace(path) { temporary in
            try HDF5File.create(temporary) { root in
                try root.setAttribute("backend", string: "jax")
                try root.setAttribute("keras_version", string: "3.0.0")
                try root.setAttribute("layer_names", strings: layers.map(\.name))
                for layer in layers {
                    let group = try root.createGroup(layer.name)
                    let weightNames = layer.variables.map { "\(layer.name)/\($0.name)" }
                    try group.setAttribute("weight_names", strings: weightNames)
                    for (name, variable) in zip(weightNames, layer.variables) {
                        try write(variable.tensor, as: name, in: group)
                    }
                }
            }
        }
    }

    private static func write(_ tensor: Tensor, as name: String, in group: HDF5Group) throws {
        let dataset = try group.createDataset(
            name, type: tensor.dtype == .float16 ? .float16 : .float32, shape: tensor.shape)
        let stored = tensor.dtype == .bfloat16 ? tensor.converted(to: .float32) : tensor
        try stored.withUnsafeBytes { try dataset.write($0) }
    }
}
