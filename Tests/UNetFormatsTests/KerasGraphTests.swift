import Foundation
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetFormats

/// Native Keras 3 files (fixtures/libraries/keras, written by generate_libraries_keras.py after a
/// throwaway model, so layer names and weight groups disagree) read from their graph into the
/// schema 2.0 networks that generate_schema2_keras.py wrote for the same models.
@Suite("Keras functional graphs")
struct KerasGraphTests {
    struct Entry: Decodable, CustomTestStringConvertible, Sendable {
        let file: String
        let sameAs: String?
        var testDescription: String { file }
        enum CodingKeys: String, CodingKey {
            case file
            case sameAs = "same_as"
        }
    }
    struct Refusal: Decodable, CustomTestStringConvertible, Sendable {
        let file: String
        let mustName: [String]
        var testDescription: String { file }
        enum CodingKeys: String, CodingKey {
            case file
            case mustName = "must_name"
        }
    }
    struct Index<Item: Decodable>: Decodable { let files: [Item] }

    static func index<Item: Decodable>(_ relative: String) throws -> [Item] {
        try Fixtures.manifest(relative, as: Index<Item>.self).files
    }

    static var entries: [Entry] { get throws { try index("libraries/keras/index.json") } }
    static var refusals: [Refusal] { get throws { try index("libraries/keras/hostile/index.json") } }

    @Test("the indexes list the native files and the refusals") func indexes() throws {
        let entries = try Self.entries
        #expect(entries.count >= 6 && entries.count { $0.sameAs != nil } >= 4)
        #expect(try Self.refusals.count >= 7)
    }

    @Test(
        "a native file reads with no hints to its schema 2.0 counterpart",
        arguments: try entries.filter { $0.sameAs != nil })
    func sameAsSchemaTwo(_ entry: Entry) throws {
        let imported = try CheckpointImporter.read(Fixtures.path("libraries/keras/\(entry.file)"))
        let reference = try CheckpointFile(path: Fixtures.path(try #require(entry.sameAs))).read()
        #expect(imported.layout == KerasLayout.graphName)
        var architecture = imported.checkpoint.architecture
        architecture.name = reference.architecture.name
        #expect(architecture == reference.architecture, "\(architecture.differences(from: reference.architecture))")
        #expect(imported.checkpoint.tensors.keys.sorted() == reference.tensors.keys.sorted())
        for (key, tensor) in reference.tensors {
            #expect(imported.checkpoint.tensors[key]?.floatValues() == tensor.floatValues(), "\(key)")
        }
    }

    @Test("the .keras zip and the legacy .h5 of a model read to the same checkpoint")
    func bothContainers() throws {
        for name in ["hand-written-unet", "kuc-att-unet-2d", "kuc-unet-2d-bilinear"] {
            let zip = try CheckpointImporter.read(Fixtures.path("libraries/keras/\(name).keras")).checkpoint
            let legacy = try CheckpointImporter.read(Fixtures.path("libraries/keras/\(name).h5")).checkpoint
            #expect(zip.architecture == legacy.architecture, "\(name)")
            #expect(zip.tensors == legacy.tensors, "\(name)")
        }
    }

    @Test("the hand-written network: strided and pooled stages, merges in both orders, the head from the last conv")
    func handWritten() throws {
        let imported = try CheckpointImporter.read(Fixtures.path("libraries/keras/hand-written-unet.keras"))
        let network = imported.checkpoint.architecture
        #expect(network.encoder.count == 3 && network.decoder.count == 2)
        guard case .conv(let down)? = network.encoder[1].layers.first else {
            Issue.record("encoder.1 does not start with the strided conv")
            return
        }
        #expect(down.stride == [2, 2] && down.padding == .same && down.name == "conv0")
        guard case .maxPool? = network.encoder[2].layers.first else {
            Issue.record("encoder.2 does not start with the max-pool")
            return
        }
        #expect(network.decoder.map { $0.merge?.order } == [.skipFirst, .upsampledFirst])
        #expect(network.decoder.map(\.skip) == [1, 0])
        #expect(network.finalActivation == .softmax)
        #expect(imported.checkpoint.tensors["encoder.0.norm0.running_var"] != nil)
        #expect(imported.checkpoint.tensors["decoder.1.up_conv0.weight"]?.shape == [8, 16, 2, 2])
    }

    @Test("a hostile or unsupported file is refused, naming the layer", arguments: try refusals)
    func refused(_ refusal: Refusal) throws {
        #expect {
            _ = try CheckpointImporter.read(Fixtures.path("libraries/keras/hostile/\(refusal.file)"))
        } throws: { error in
            let message = "\(error)"
            return refusal.mustName.allSatisfy { message.contains($0) }
        }
    }

    @Test("weight groups are named as Keras' saving names them: class in snake case, counted per class")
    func groupNames() {
        let names = [
            "Conv2D": "conv2d", "UpSampling2D": "up_sampling2d", "ReLU": "re_lu",
            "BatchNormalization": "batch_normalization",
            "Conv2DTranspose": "conv2d_transpose", "MaxPooling2D": "max_pooling2d", "InputLayer": "input_layer",
        ]
        for (className, group) in names { #expect(KerasGraph.snakeCase(className) == group, "\(className)") }
    }
}
