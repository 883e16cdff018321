import HDF5
import UNetCheckpoint

/// Writes the weights of a Keras functional U-Net for `model.load_weights`: Keras 3's
/// `.weights.h5` (`layers/<group>/vars/<i>`, matched by class and order) or the legacy HDF5
/// layout (`layer_names`, `weight_names`, matched by the order of the weighted layers). A
/// keras-functional network's layers are named as Keras names them automatically in a fresh
/// session (`conv2d`, `conv2d_1`, …); a keras-graph network's are its model config's
/// (``KerasGraphExport``).
enum KerasWriter {
    /// A layer: its group, its name and its variables in Keras' order and shapes.
    struct Layer {
        /// The group under `layers/` in a Keras 3 weights file (`conv2d_3`).
        let group: String
        /// The layer's name: the `vars` group's `name` attribute, the legacy file's group.
        let name: String
        /// Empty for a layer without weights (still written in a Keras 3 file, as Keras does).
        let variables: [(name: String, tensor: Tensor)]
    }

    /// Keras' name of a canonical tensor field (`weight` → `kernel`, or `gamma` in a norm).
    static func variableName(field: String, inNorm: Bool) -> String {
        switch field {
        case "bias": inNorm ? "beta" : "bias"
        case "running_mean": "moving_mean"
        case "running_var": "moving_variance"
        default: inNorm ? "gamma" : "kernel"
        }
    }

    /// A canonical tensor in Keras' axis order: OIHW kernels become HWIO (IOHW: HWOI).
    static func kerasShaped(_ tensor: Tensor) -> Tensor {
        tensor.shape.count == 4 ? tensor.permuted([2, 3, 1, 0]) : tensor
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
            if let current {
                layers.append(Layer(group: current.layer, name: current.layer, variables: current.variables))
            }
            current = nil
        }
        for (spec, tensor) in checkpoint.orderedTensors {
            let isNorm = spec.layer.split(separator: ".").last?.hasPrefix("norm") == true
            if current?.layer != spec.layer {
                flush()
                current = (spec.layer, [])
            }
            let field = spec.key.split(separator: ".").last.map(String.init) ?? ""
            current!.variables.append((variableName(field: field, inNorm: isNorm), kerasShaped(tensor)))
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
            let name = autoName(kind)
            return Layer(group: name, name: name, variables: layer.variables)
        }
    }

    /// Keras 3 `save_weights` layout; `model` is the root `vars` group's `name` attribute.
    static func writeWeights(_ layers: [Layer], model: String? = nil, to path: String) throws {
        try AtomicWrite.replace(path) { temporary in
            try HDF5File.create(temporary) { root in
                let group = try root.createGroup("layers")
                for layer in layers {
                    let vars = try group.createGroup("\(layer.group)/vars")
                    try vars.setAttribute("name", string: layer.name)
                    for (index, variable) in layer.variables.enumerated() {
                        try write(variable.tensor, as: String(index), in: vars)
                    }
                }
                let vars = try root.createGroup("vars")
                if let model { try vars.setAttribute("name", string: model) }
            }
        }
    }

    /// Legacy HDF5 layout (`model.load_weights("x.h5")` matches the weighted layers by order).
    static func writeLegacy(_ layers: [Layer], to path: String) throws {
        let layers = layers.filter { !$0.variables.isEmpty }
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
