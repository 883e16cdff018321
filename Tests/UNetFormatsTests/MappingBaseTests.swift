import Foundation
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetFormats

/// Mapping files that build on a layout (docs/mapping.md): a prefix stripped and a few keys
/// renamed, the rest read by the base layout, whose arguments the file may complete.
@Suite("Mapping files with a base layout")
struct MappingBaseTests {
    /// `source` with every key prefixed, written as a plain state dict.
    func prefixed(_ path: String, _ prefix: String, in directory: TemporaryDirectory) throws -> String {
        let source = try PyTorchReader.read(path)
        let output = directory.file("prefixed.pth")
        let entries: [(key: String, value: PyTorchWriter.Value)] =
            source.tensors.map { (prefix + $0.key, .tensor($0.tensor)) }
            + source.integers.map { (prefix + $0.key, .int64Scalar($0.value)) }
        try PyTorchWriter.write(entries, to: output)
        return output
    }

    func mapping(_ json: String) throws -> MappingFile {
        try MappingFile(data: Data(json.utf8), path: "map.json")
    }

    @Test("a prefix stripped: the same checkpoint as the plain file, in the base layout")
    func stripPrefix() throws {
        let directory = try TemporaryDirectory()
        let plain = Fixtures.path("pytorch/milesial-tiny.pth")
        let file = try prefixed(plain, "net.", in: directory)
        let expected = try CheckpointImporter.read(plain).checkpoint
        let imported = try CheckpointImporter.read(
            file, mapping: try mapping(#"{"base": "milesial", "strip_prefix": "net."}"#))
        #expect(imported.layout == "milesial")
        #expect(imported.checkpoint.tensors == expected.tensors)
        #expect(imported.checkpoint.architecture == expected.architecture)
        #expect(imported.notes.contains("removed the prefix \"net.\" (mapping file)"))
        // Without the mapping file the prefixed keys follow no layout.
        #expect(throws: FormatError.self) { try CheckpointImporter.read(file) }
    }

    @Test("arguments complete a library layout: the stated value replaces the assumed one")
    func arguments() throws {
        let path = Fixtures.path("libraries/nnunet-plainconv-2d.pth")
        let stated = try mapping(
            #"{"base": "nnunet", "arguments": {"arch_kwargs": {"norm_op_kwargs": {"eps": 0.001}}}}"#)
        let imported = try CheckpointImporter.read(path, mapping: stated)
        let norms = imported.checkpoint.architecture.encoder[0].layers.compactMap { layer -> Double? in
            if case .norm(let norm) = layer { norm.eps } else { nil }
        }
        #expect(norms == [0.001, 0.001])
        // The stated eps is no longer an assumption; what is still assumed is said.
        let assumptions = imported.checkpoint.metadata.source?.assumptions ?? []
        #expect(!assumptions.contains { $0.contains("eps") })
        #expect(assumptions.contains { $0.contains("LeakyReLU slope 0.01") })
        #expect(imported.checkpoint.metadata.source?.arguments?["assumed"] == nil)
    }

    @Test("a base that is no layout, or fields that need one, are refused naming the field")
    func refusals() throws {
        for (json, field) in [
            (#"{"base": "unet-xl"}"#, "\"base\" \"unet-xl\" is not a layout"),
            (#"{"strip_prefix": "model."}"#, "need a \"base\""),
            (#"{"base": "milesial", "layout": "mine"}"#, "\"layout\""),
            (#"{"base": "milesial", "strip_prefix": 3}"#, "\"strip_prefix\" must be"),
        ] {
            #expect {
                _ = try mapping(json)
            } throws: { error in
                (error as? FormatError)?.message.contains(field) == true
            }
        }
    }
}

@Suite("milesial with Down as a Sequential")
struct MilesialSequentialTests {
    @Test("downN.1.double_conv keys read as milesial's, and export back under the same keys")
    func sequentialDown() throws {
        let plain = Fixtures.path("pytorch/milesial-tiny.pth")
        let source = try PyTorchReader.read(plain)
        func renamed(_ key: String) -> String { key.replacingOccurrences(of: ".maxpool_conv.", with: ".") }
        let entries: [(key: String, value: PyTorchWriter.Value)] =
            source.tensors.map { (renamed($0.key), .tensor($0.tensor)) }
            + source.integers.map { (renamed($0.key), .int64Scalar($0.value)) }
        let directory = try TemporaryDirectory()
        let file = directory.file("sequential.pth")
        try PyTorchWriter.write(entries, to: file)
        let expected = try CheckpointImporter.read(plain).checkpoint
        let imported = try CheckpointImporter.read(file)
        #expect(imported.layout == "milesial-sequential-down")
        #expect(imported.checkpoint.tensors == expected.tensors)
        var architecture = imported.checkpoint.architecture
        architecture.name = expected.architecture.name
        #expect(architecture == expected.architecture)
        let back = directory.file("back.pth")
        try CheckpointExporter.write(imported.checkpoint, to: back, format: .pytorch)
        let written = try PyTorchReader.read(back)
        #expect(
            Set(written.tensors.map(\.key))
                == Set(entries.compactMap { if case .tensor = $0.value { $0.key } else { nil } }))
    }
}
