import Foundation
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetInference

/// The forward pass reproduces what MONAI, nnU-Net's networks, segmentation-models-pytorch and a
/// hand-written torch network computed (fixtures/schema2, written by generate_schema2.py: each
/// file's probe is the library module's own output, in float64, for a seeded input), in 2-D and 3-D.
@Suite("Forward pass against the libraries (schema 2.0)")
struct SchemaTwoProbeTests {
    struct Entry: Decodable, CustomTestStringConvertible, Sendable {
        let file: String
        let library: String
        var testDescription: String { file }
    }
    struct Index: Decodable { let files: [Entry] }

    static var entries: [Entry] { get throws { try Fixtures.manifest("schema2/index.json", as: Index.self).files } }

    @Test("the index lists the library families") func index() throws {
        let entries = try Self.entries
        #expect(
            Set(entries.map(\.library)).isSuperset(of: [
                "monai", "dynamic-network-architectures", "segmentation-models-pytorch",
            ]))
        #expect(entries.count >= 11)
    }

    @Test("each library's output is reproduced within 1e-4 of its range", arguments: try entries)
    func probe(_ entry: Entry) throws {
        let file = try CheckpointFile(path: Fixtures.path("schema2/\(entry.file)"))
        let checkpoint = try file.read()
        let probe = try #require(checkpoint.probe)
        let input = FeatureMap(
            batch: probe.input.shape[0], channels: probe.input.shape[1], spatial: Array(probe.input.shape.dropFirst(2)),
            values: probe.input.floatValues())
        let expected = FeatureMap(
            batch: probe.output.shape[0], channels: probe.output.shape[1],
            spatial: Array(probe.output.shape.dropFirst(2)), values: probe.output.floatValues())
        let output = try UNetModel(checkpoint).predict(input)
        #expect(output.shape == expected.shape, "\(entry.file)")
        let range = Double((expected.values.max() ?? 0) - (expected.values.min() ?? 0))
        let absolute = ProbeMaker.compare(output.values, expected.values, rtol: 0, atol: 0).absolute
        #expect(absolute <= 1e-4 * range, "\(entry.file): \(absolute) absolute, \(absolute / range) of the range")
        // The stored tolerances hold too (what `verify` checks).
        let difference = ProbeMaker.compare(
            output.values, expected.values, rtol: probe.relativeTolerance, atol: probe.absoluteTolerance)
        #expect(difference.within, "\(entry.file): largest relative difference \(difference.relative)")
    }
}
