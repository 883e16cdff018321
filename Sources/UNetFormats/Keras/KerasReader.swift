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

    private static func readWeights(_ file: HDF5File, graph: KerasGraph?, file path: String) throws -> SourceTensors {
        let root = try file.root()
        var source = SourceTensors()
        source.isKeras = true
        source.kerasGraph = graph
        guard try root.contains("layers") else {
            throw FormatError(.unsupported, file: path, "a Keras weights file without a layers group")
        }
        let layers = try root.group("layers")
        for layer in try layers.childNames() {
            let group = try layers.group(layer)
            guard try group.contains("vars") else { continue }
            if try group.contains("layers") {
                source.skipped.append("\(layer): a nested model (its inner layers are not read)")
                continue
            }
            let vars = try group.group("vars")
            let indices = try vars.childNames().compactMap(Int.init).sorted()
            for index in indices {
                source.tensors.append(("\(layer)/\(index)", try readTensor(vars.dataset(String(index)), file: path)))
            }
        }
        return source
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
