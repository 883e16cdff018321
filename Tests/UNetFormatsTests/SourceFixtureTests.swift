import Foundation
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetFormats

/// Files made by PyTorch, MONAI, safetensors and Keras (fixtures/generate.py) convert with
/// nothing typed by the user: the format, the layout and the whole architecture are found, and
/// every tensor equals, bit for bit, what the framework held.
@Suite("Converting real framework files")
struct SourceFixtureTests {
    static var sources: [Fixtures.SourceFixture] {
        get throws {
            (try Fixtures.sources("pytorch") + Fixtures.sources("safetensors") + Fixtures.sources("keras"))
                .filter { !$0.file.hasSuffix("old-format.pth") }
        }
    }

    @Test("mapped in place (convert's way) or copied, the tensors are the same", arguments: try sources)
    func mappedImport(_ fixture: Fixtures.SourceFixture) throws {
        let path = Fixtures.path(fixture.file)
        let mapping = try fixture.map.map { try MappingFile(path: Fixtures.path($0)) }
        let copied = try CheckpointImporter.read(path, mapping: mapping).checkpoint
        let mapped = try CheckpointImporter.read(path, mapping: mapping, mapFile: true).checkpoint
        #expect(mapped.tensors == copied.tensors)
        #expect(mapped.metadata.source?.sha256 == copied.metadata.source?.sha256)
        for (key, tensor) in mapped.tensors { #expect(tensor.crc32 == copied.tensors[key]?.crc32, "\(key)") }
        // torch.save stores each storage uncompressed: tensors that own theirs are used in place.
        let inPlace = mapped.tensors.values.filter { if case .mapped = $0.storage { true } else { false } }
        #expect(inPlace.isEmpty == (fixture.format != "pytorch"), "\(inPlace.count) tensors in place")
    }

    @Test("a digest left pending is recorded by every writer, late or first")
    func pendingProvenance() throws {
        let path = Fixtures.path("pytorch/milesial-tiny.pth")
        let complete = try CheckpointImporter.read(path)
        let deferred = try CheckpointImporter.read(path, mapFile: true, digestLater: true)
        let expected = try #require(complete.checkpoint.metadata.source?.sha256)
        #expect(deferred.checkpoint.metadata.source?.sha256 == nil)
        let pending = try #require(deferred.pendingProvenance)
        let directory = try TemporaryDirectory()
        for (name, format) in [("late.h5", CheckpointFormat.unetH5), ("first.safetensors", .safetensors)] {
            let output = directory.file(name)
            try CheckpointExporter.write(
                deferred.checkpoint, to: output, format: format, options: WriteOptions(completeMetadata: pending))
            let back = try CheckpointImporter.read(output).checkpoint
            #expect(back.metadata.source?.sha256 == expected, "\(name)")
            #expect(back.tensors == complete.checkpoint.tensors)
        }
    }

    @Test("the fixture indexes are there")
    func indexes() throws {
        #expect(try Self.sources.count >= 11)
    }

    @Test("format, layout, architecture, tensors and metadata are recovered", arguments: try sources)
    func convert(_ fixture: Fixtures.SourceFixture) throws {
        let path = Fixtures.path(fixture.file)
        let mapping = try fixture.map.map { try MappingFile(path: Fixtures.path($0)) }
        #expect(try CheckpointFormat.detect(path).rawValue == fixture.format)
        let imported = try CheckpointImporter.read(path, mapping: mapping)
        #expect(imported.layout == fixture.layout)

        let document = try Fixtures.json(at: fixture.expected)
        let architectureJSON = try JSONSerialization.data(withJSONObject: document["architecture"]!)
        let expectedArchitecture = UNetArchitecture(
            try JSONDecoder().decode(ArchitectureV1.self, from: architectureJSON))
        let architecture = imported.checkpoint.architecture
        #expect(
            architecture.differences(from: expectedArchitecture).isEmpty,
            "\(architecture.differences(from: expectedArchitecture))")
        #expect(architecture.name == expectedArchitecture.name)

        let expected = try Fixtures.expected(at: fixture.expected)
        #expect(try imported.checkpoint.architecture.network().tensorSpecs.map(\.key) == expected.tensors.map(\.key))
        for entry in expected.tensors {
            let tensor = try #require(imported.checkpoint.tensors[entry.key])
            #expect(tensor.dtype.rawValue == entry.dtype, "\(entry.key)")
            #expect(tensor.withUnsafeBytes { Data($0) } == expected.bytes(of: entry), "\(entry.key)")
        }
        if let metadata = document["metadata"] as? [String: Any], let masks = metadata["mask_values"] {
            let json = try JSONDecoder().decode(JSONValue.self, from: JSONSerialization.data(withJSONObject: masks))
            #expect(imported.checkpoint.metadata.maskValues == json)
        }
        if let counters = document["num_batches_tracked"] as? [String: Int] {
            #expect(imported.checkpoint.normCounters == counters.mapValues(Int64.init))
        }
        let source = try #require(imported.checkpoint.metadata.source)
        #expect(source.format == fixture.format && source.layout == fixture.layout)
        #expect(source.sha256?.count == 64)
    }

    @Test(
        "a conversion to our HDF5 and back to the source's format loads the same tensors",
        arguments: try sources.filter { $0.map == nil && $0.format != "keras" })
    func backToSource(_ fixture: Fixtures.SourceFixture) throws {
        let directory = try TemporaryDirectory()
        let first = try CheckpointImporter.read(Fixtures.path(fixture.file))
        let ours = directory.file("model.h5")
        try CheckpointExporter.write(first.checkpoint, to: ours, format: .unetH5)
        let reread = try CheckpointImporter.read(ours).checkpoint
        let format = CheckpointFormat(rawValue: fixture.format)!
        let name =
            "export"
            + [".pth", ".safetensors", ".h5", ".weights.h5"][
                [CheckpointFormat.pytorch, .safetensors, .kerasH5, .kerasWeights].firstIndex(of: format)!]
        try CheckpointExporter.write(reread, to: directory.file(name), format: format)
        let exported = try CheckpointImporter.read(directory.file(name))
        #expect(exported.layout == fixture.layout)
        #expect(exported.checkpoint.tensors == first.checkpoint.tensors)
        #expect(exported.checkpoint.metadata.maskValues == first.checkpoint.metadata.maskValues)
    }

    @Test("a pre-1.6 PyTorch pickle is read: the same tensors as the zip of the same state dict")
    func legacyPickle() throws {
        let legacy = try CheckpointImporter.read(Fixtures.path("pytorch/old-format.pth"))
        let zip = try CheckpointImporter.read(Fixtures.path("pytorch/milesial-tiny.pth"))
        #expect(legacy.container.legacyFormat)
        #expect(legacy.checkpoint.tensors == zip.checkpoint.tensors)
        #expect(legacy.checkpoint.normCounters == zip.checkpoint.normCounters)
        #expect(legacy.checkpoint.metadata.maskValues == zip.checkpoint.metadata.maskValues)
        #expect(legacy.notes.contains { $0.contains("legacy") })
    }

    @Test("keys of no known layout are refused, naming them and the mapping file")
    func unknownLayout() throws {
        #expect {
            _ = try CheckpointImporter.read(Fixtures.path("pytorch/paper-custom.pth"))
        } throws: { error in
            let message = (error as! FormatError).message
            return message.contains("enc.0.conv_a.weight") && message.contains("--map")
        }
    }
}

/// Hostile files: refused with the offending thing named, and nothing from them ever runs.
@Suite("Hostile source files")
struct HostileFixtureTests {
    static var cases: [(String, Fixtures.HostileFixture)] {
        get throws {
            try Fixtures.hostile("pytorch/hostile").map { ("pytorch/hostile", $0) }
                + Fixtures.hostile("safetensors/hostile").map { ("safetensors/hostile", $0) }
        }
    }

    @Test("the manifests are there")
    func manifests() throws { #expect(try Self.cases.count >= 18) }

    @Test("each is refused with a clear error, or accepted when it is the control", arguments: try cases)
    func verdict(folder: String, fixture: Fixtures.HostileFixture) throws {
        if let marker = fixture.marker { try? FileManager.default.removeItem(atPath: marker) }
        let path = Fixtures.path("\(folder)/\(fixture.file)")
        if fixture.expect == "accepted" {
            _ = try CheckpointImporter.read(path)
        } else {
            #expect {
                _ = try CheckpointImporter.read(path)
            } throws: { error in
                guard let error = error as? FormatError else { return false }
                return error.description.contains(path)
                    && (fixture.mustMention.map { error.message.contains($0) } ?? true)
            }
        }
        if let marker = fixture.marker {
            #expect(!FileManager.default.fileExists(atPath: marker), "the payload of \(fixture.file) ran")
        }
    }
}
