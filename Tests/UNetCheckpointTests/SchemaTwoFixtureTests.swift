import Foundation
import TestSupport
import Testing

@testable import UNetCheckpoint

/// Schema 2.0 checkpoints of real library U-Nets (MONAI, nnU-Net, segmentation-models-pytorch and
/// a hand-written torch network), written by fixtures/generate_schema2.py: every file opens, holds
/// exactly the tensors the library has (keys in canonical order, parameter count) and is not
/// expressible in schema 1.0. The forward pass against the probes is tested in UNetInferenceTests.
@Suite("Schema 2.0 fixtures from the real libraries")
struct SchemaTwoFixtureTests {
    struct Index: Decodable {
        struct Entry: Decodable, CustomTestStringConvertible, Sendable {
            let file: String
            let library: String
            let spatialDims: Int
            let tensors: [String]
            let parameterCount: Int
            let libraryParameters: Int
            let libraryBuffers: Int
            let probe: Probe
            var testDescription: String { file }
            enum CodingKeys: String, CodingKey {
                case file, library, tensors, probe
                case spatialDims = "spatial_dims", parameterCount = "parameter_count"
                case libraryParameters = "library_parameters", libraryBuffers = "library_buffers"
            }
        }
        struct Probe: Decodable, Sendable {
            let input: [Int]
            let output: [Int]
        }
        struct NotExpressible: Decodable, Sendable {
            let library: String
            let reason: String
        }
        let files: [Entry]
        let notExpressible: [NotExpressible]
        enum CodingKeys: String, CodingKey {
            case files
            case notExpressible = "not_expressible"
        }
    }

    /// The entries of the index (a missing or unreadable index fails the tests over them).
    static var entries: [Index.Entry] { get throws { try load().files } }

    static func load() throws -> Index { try Fixtures.manifest("schema2/index.json") }

    @Test("the index exists, decodes and lists the files")
    func indexIsPresent() throws {
        let index = try Self.load()
        #expect(index.files.count >= 10)
        let libraries = Set(index.files.map(\.library))
        #expect(libraries.isSuperset(of: ["monai", "dynamic-network-architectures", "segmentation-models-pytorch"]))
        for entry in index.files {
            #expect(FileManager.default.fileExists(atPath: Fixtures.path("schema2/\(entry.file)")), "\(entry.file)")
        }
    }

    @Test("opens with the library's tensors and parameter count", arguments: try entries)
    func opens(entry: Index.Entry) throws {
        let file = try CheckpointFile(path: Fixtures.path("schema2/\(entry.file)"))
        #expect(file.schemaVersion.major == 2)
        #expect(file.migrations.isEmpty)
        #expect(file.architecture.spatialDims == entry.spatialDims)
        #expect(file.tensors.map(\.key) == entry.tensors)
        #expect(file.network.tensorSpecs.map(\.key) == entry.tensors)
        #expect(file.network.parameterCount == entry.parameterCount)
        #expect(entry.parameterCount == entry.libraryParameters + entry.libraryBuffers)
        #expect(file.architecture.version1 == nil)
        #expect(file.warnings.isEmpty, "\(file.warnings)")
        let probe = try #require(file.probe)
        #expect(probe.inputShape == entry.probe.input)
        #expect(probe.outputShape == entry.probe.output)
        #expect(probe.inputShape.count == entry.spatialDims + 2)
        #expect(file.architecture.inChannels == entry.probe.input[1])
        #expect(file.architecture.outChannels == entry.probe.output[1])
    }

    @Test("every checksum holds", arguments: try entries)
    func verifies(entry: Index.Entry) throws {
        let file = try CheckpointFile(path: Fixtures.path("schema2/\(entry.file)"))
        let report = file.verify()
        #expect(report.isValid, "\(entry.file)")
    }
}
