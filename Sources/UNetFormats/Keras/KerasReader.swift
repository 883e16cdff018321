import Foundation
import HDF5
import UNetCheckpoint

/// Reads the weights of Keras files, layer by layer: legacy `.h5` (`model_weights` with
/// `layer_names` / `weight_names`), Keras 3 `.weights.h5` (`layers/<name>/vars/<i>`) and `.keras`
/// zips (the same weights file, plus `config.json`). Source keys are `<layer>/<index>` in the
/// layer's weight order; kernels keep Keras' HWIO shape.
enum KerasReader {
    static func read(_ path: String, format: CheckpointFormat) throws(FormatError) -> SourceTensors {
        do {
            switch format {
            case .kerasH5: return try readLegacy(HDF5File.open(path), file: path)
            case .kerasWeights: return try readWeights(HDF5File.open(path), graph: nil, file: path)
            default:
                let zip = try ZipReader(path: path)
                let config = String(decoding: try zip.read("config.json"), as: UTF8.self)
                let graph = try KerasGraph(json: config, file: path)
                let image: [UInt8] = try zip.read("model.weights.h5")
                return try readWeights(
                    HDF5File.open(image: image, name: path + "#model.weights.h5"), graph: graph, file: path)
            }
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.malformed, file: path, "cannot read the Keras weights", cause: "\(error)")
        }
    }

    private static func readLegacy(_ file: HDF5File, file path: String) throws -> SourceTensors {
        let root = try file.root()
        var source = SourceTensors()
        source.isKeras = true
        if try root.hasAttribute("model_config") {
            source.kerasGraph = try KerasGraph(json: try root.stringAttribute("model_config"), file: path)
        }
        let weights = try root.hasAttribute("layer_names") ? root : root.group("model_weights")
        for layer in try weights.stringArrayAttribute("layer_names") {
            let group = try weights.group(layer)
            let names = try group.hasAttribute("weight_names") ? group.stringArrayAttribute("weight_names") : []
            for (index, name) in names.enumerated() {
                source.tensors.append(("\(layer)/\(index)", try readTensor(group.dataset(name), file: path)))
            }
        }
        return source
    }

    /// Keras 3 weights (`layers/<group>/vars/<i>`). With a config, each layer's group is found by
    /// class and order (``KerasGraph/weightGroups``) and its tensors are keyed by the layer's name;
    /// without one, by the group names.
    static func readWeights(_ file: HDF5File, graph: KerasGraph?, file path: String) throws -> SourceTensors {
        let root = try file.root()
        var source = SourceTensors()
        source.isKeras = true
        source.kerasGraph = graph
        guard try root.contains("layers") else {
            throw FormatError(.unsupported, file: path, "a Keras weights file without a layers group")
        }
        let layers = try root.group("layers")
        let stored = try layers.childNames()
        guard let graph else {
            for group in stored { try readVariables(layers.group(group), as: group, into: &source, file: path) }
            return source
        }
        var claimed = Set<String>()
        for (group, layer) in graph.weightGroups where stored.contains(group) {
            claimed.insert(group)
            let entry = try layers.group(group)
            let nested = try entry.contains("layers")
            if layer.isNested || nested {
                guard try entry.hasWeights() else { continue }
                throw FormatError(
                    .unsupported, file: path,
                    "layer \(layer.name) is a nested \(layer.className) (weights under layers/\(group)/layers/…); "
                        + "nested models are not read: build the U-Net as one functional model")
            }
            if try entry.contains("vars"), try entry.group("vars").hasAttribute("name") {
                let recorded = try entry.group("vars").stringAttribute("name")
                guard recorded == layer.name else {
                    throw FormatError(
                        .malformed, file: path,
                        "the weights group layers/\(group) is recorded for layer \(recorded), but by class and "
                            + "order it belongs to layer \(layer.name) (\(layer.className)) of the config")
                }
            }
            try readVariables(entry, as: layer.name, into: &source, file: path)
        }
        for group in stored where !claimed.contains(group) {
            if try layers.group(group).hasWeights() {
                throw FormatError(
                    .malformed, file: path,
                    "the weights group layers/\(group) belongs to no layer of the model config "
                        + "(\(graph.layers.count) layers)")
            }
        }
        return source
    }

    /// The tensors of one group's `vars`, keyed `<key>/<index>`.
    private static func readVariables(
        _ group: HDF5Group, as key: String, into source: inout SourceTensors, file path: String
    ) throws {
        guard try group.contains("vars") else { return }
        if try group.contains("layers") {
            source.skipped.append("\(key): a nested model (its inner layers are not read)")
            return
        }
        let vars = try group.group("vars")
        let names = try vars.childNames()
        let indices = names.compactMap(Int.init).sorted()
        guard indices.count == names.count else {
            throw FormatError(
                .malformed, file: path, "\(vars.path) holds entries that are not numbered variables: \(names)")
        }
        for index in indices {
            source.tensors.append(("\(key)/\(index)", try readTensor(vars.dataset(String(index)), file: path)))
        }
    }

    private static func readTensor(_ dataset: HDF5Dataset, file: String) throws -> Tensor {
        guard let count = dataset.elementCount, count <= 1 << 34, dataset.shape.count <= 8 else {
            throw FormatError(.malformed, file: file, "\(dataset.path) has an impossible shape \(dataset.shape)")
        }
        let dtype: DType
        switch dataset.type.elementType {
        case .float32: dtype = .float32
        case .float16: dtype = .float16
        default:
            throw FormatError(.unsupported, file: file, "\(dataset.path) is \(dataset.type), not float32 or float16")
        }
        return try Tensor.reading(dtype: dtype, shape: dataset.shape) { try dataset.read(into: $0) }
    }
}

extension HDF5Group {
    /// Whether any dataset lies in this group or below (a Keras layer's group with variables).
    /// Looks 8 groups deep at most (links may make a cycle).
    fileprivate func hasWeights(depth: Int = 0) throws -> Bool {
        guard depth < 8 else { return false }
        for name in try childNames() {
            if (try? dataset(name)) != nil { return true }
            if let child = try? group(name), try child.hasWeights(depth: depth + 1) { return true }
        }
        return false
    }
}
