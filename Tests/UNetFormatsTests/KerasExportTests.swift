import Foundation
import HDF5
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetFormats

/// Networks read from a Keras graph go back into Keras: the weights written for the native
/// files of fixtures/libraries/keras are the ones Keras itself saved (fixtures/check_keras_exports.py
/// loads them into the rebuilt models and compares the outputs).
@Suite("Keras graph export")
struct KerasExportTests {
    static let models = ["hand-written-unet", "kuc-att-unet-2d", "kuc-unet-2d-bilinear"]

    /// An HDF5 file's groups (with their `name` attribute) and datasets (shape and values), by path.
    struct Contents: Equatable {
        var names: [String: String?] = [:]
        var datasets: [String: Tensor] = [:]

        init(_ file: HDF5File) throws {
            try collect(file.root(), path: "")
        }

        private mutating func collect(_ group: HDF5Group, path: String) throws {
            names[path.isEmpty ? "/" : path] = try group.hasAttribute("name") ? group.stringAttribute("name") : nil
            for child in try group.childNames() {
                if let dataset = try? group.dataset(child) {
                    datasets["\(path)/\(child)"] = try Tensor.reading(dtype: .float32, shape: dataset.shape) {
                        try dataset.read(into: $0)
                    }
                } else {
                    try collect(group.group(child), path: "\(path)/\(child)")
                }
            }
        }
    }

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("keras-export-\(UUID().uuidString)-\(name)").path
    }

    static func native(_ model: String) throws -> (config: String, weights: [UInt8]) {
        let zip = try ZipReader(path: Fixtures.path("libraries/keras/\(model).keras"))
        return (String(decoding: try zip.read("config.json"), as: UTF8.self), try zip.read("model.weights.h5"))
    }

    @Test(
        "a .keras read, kept as unet-ckpt HDF5 and exported gives the .weights.h5 Keras saved, and reads back",
        arguments: models)
    func weightsFile(_ model: String) throws {
        let imported = try CheckpointImporter.read(Fixtures.path("libraries/keras/\(model).keras")).checkpoint
        // Through unet-ckpt's own file: the recorded model config must survive it.
        let kept = Self.temporary("\(model).h5")
        let exported = Self.temporary("\(model).weights.h5")
        defer { for path in [kept, exported] { try? FileManager.default.removeItem(atPath: path) } }
        try CheckpointExporter.write(imported, to: kept, format: .unetH5)
        let checkpoint = try CheckpointImporter.read(kept).checkpoint
        #expect(checkpoint.metadata.additionalFields["keras"] == imported.metadata.additionalFields["keras"])
        try CheckpointExporter.write(checkpoint, to: exported, format: .kerasWeights)

        let (config, image) = try Self.native(model)
        let expected = try Contents(HDF5File.open(image: image, name: "\(model)#model.weights.h5"))
        let written = try Contents(HDF5File.open(exported))
        #expect(written.names == expected.names)
        #expect(written.datasets.keys.sorted() == expected.datasets.keys.sorted())
        for (path, tensor) in expected.datasets {
            #expect(written.datasets[path]?.shape == tensor.shape, "\(path)")
            #expect(written.datasets[path]?.floatValues() == tensor.floatValues(), "\(path)")
        }

        // Read back with the native config, as Keras' load_weights pairs them.
        let graph = try KerasGraph(json: config, file: exported)
        var source = try KerasReader.readWeights(HDF5File.open(exported), graph: graph, file: exported)
        var notes: [String] = []
        let plan = try KeyPlan.make(for: &source, mapping: nil, file: exported, notes: &notes)
        let reread = try plan.checkpoint(from: source, file: exported)
        #expect(plan.layout == KerasLayout.graphName)
        #expect(reread.architecture == checkpoint.architecture)
        #expect(reread.tensors == checkpoint.tensors)
    }

    @Test("the legacy .h5 export holds the weighted layers of the legacy file Keras saved", arguments: models)
    func legacyFile(_ model: String) throws {
        let checkpoint = try CheckpointImporter.read(Fixtures.path("libraries/keras/\(model).keras")).checkpoint
        let exported = Self.temporary("\(model).h5")
        defer { try? FileManager.default.removeItem(atPath: exported) }
        try CheckpointExporter.write(checkpoint, to: exported, format: .kerasH5)
        let written = try HDF5File.open(exported).root()
        let native = try HDF5File.open(Fixtures.path("libraries/keras/\(model).h5")).root().group("model_weights")
        var weighted: [String] = []
        for name in try native.stringArrayAttribute("layer_names") {
            let group = try native.group(name)
            let weights = try group.hasAttribute("weight_names") ? group.stringArrayAttribute("weight_names") : []
            guard !weights.isEmpty else { continue }
            weighted.append(name)
            #expect(try written.group(name).stringArrayAttribute("weight_names") == weights, "\(name)")
            for weight in weights {
                let expected = try group.dataset(weight)
                let dataset = try written.group(name).dataset(weight)
                #expect(dataset.shape == expected.shape, "\(name)/\(weight)")
                let values = try [expected, dataset].map { set in
                    try Tensor.reading(dtype: .float32, shape: set.shape) { try set.read(into: $0) }
                }
                #expect(values[0] == values[1], "\(name)/\(weight)")
            }
        }
        #expect(try written.stringArrayAttribute("layer_names") == weighted)
    }

    @Test("a keras-graph checkpoint without its model config, or with another network, is refused")
    func refusals() throws {
        let checkpoint = try CheckpointImporter.read(Fixtures.path("libraries/keras/kuc-att-unet-2d.keras")).checkpoint
        let path = Self.temporary("refused.weights.h5")
        defer { try? FileManager.default.removeItem(atPath: path) }

        var bare = checkpoint
        bare.metadata.additionalFields["keras"] = nil
        let missing = #expect(throws: FormatError.self) {
            try CheckpointExporter.write(bare, to: path, format: .kerasWeights)
        }
        #expect(missing?.message.contains("records no Keras model config") == true)

        var architecture = checkpoint.architecture
        architecture.heads[0].layers.removeLast()  // the head's softmax
        let changed = try Checkpoint(
            architecture: architecture, tensors: checkpoint.tensors, metadata: checkpoint.metadata)
        let other = #expect(throws: FormatError.self) {
            try CheckpointExporter.write(changed, to: path, format: .kerasWeights)
        }
        #expect(other?.message.contains("no longer the one its recorded Keras model config builds") == true)
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
