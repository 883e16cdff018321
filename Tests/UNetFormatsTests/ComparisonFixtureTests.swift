import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetFormats

/// `CheckpointComparison` on the pairs of fixtures/diff, checked against what the generator knows.
@Suite("Comparison of real files")
struct ComparisonFixtureTests {
    func compare(_ a: String, _ b: String, options: ComparisonOptions = ComparisonOptions()) throws
        -> CheckpointComparison
    {
        try CheckpointComparison(
            CheckpointImporter.readContents(Fixtures.path(a)).contents,
            CheckpointImporter.readContents(Fixtures.path(b)).contents, options: options)
    }

    @Test("the manifest lists every kind of difference")
    func manifest() throws {
        let pairs = try DiffManifest.load().pairs
        #expect(Set(pairs.map(\.name)) == ["finetuned", "perturbed", "missing", "relabelled"])
        #expect(pairs.contains { !$0.changed.isEmpty && !$0.numBatchesTracked.isEmpty })
        #expect(pairs.contains { !$0.onlyInA.isEmpty })
        #expect(pairs.contains { !$0.metadata.isEmpty })
    }

    @Test(
        "the tensors, counters and metadata that differ, with the generator's statistics",
        arguments: try DiffManifest.allPairs)
    func knownDifferences(_ pair: DiffManifest.Pair) throws {
        let comparison = try compare(pair.a, pair.b)
        #expect(!comparison.equal)
        #expect(Set(comparison.changedTensors.map(\.key)) == Set(pair.changed.keys))
        for difference in comparison.changedTensors {
            let expected = try #require(pair.changed[difference.key])
            #expect(difference.changed == expected.changed, "\(difference.key)")
            #expect(difference.elements == expected.elements)
            #expect(approximatelyEqual(difference.maxAbs, expected.maxAbs, relativeTolerance: 1e-12))
            #expect(approximatelyEqual(difference.maxRel, expected.maxRel, relativeTolerance: 1e-12))
            #expect(approximatelyEqual(difference.cosine, expected.cosine, relativeTolerance: 1e-12))
        }
        // The largest change first.
        let sizes = comparison.tensors.map(\.maxAbs)
        #expect(sizes == sizes.sorted(by: >))
        #expect(comparison.onlyInA.map(\.key) == pair.onlyInA)
        #expect(comparison.onlyInB.map(\.key) == pair.onlyInB)
        #expect(comparison.shapeMismatches.isEmpty)
        #expect(comparison.architecture.isEmpty)
        #expect(comparison.metadata.map(\.field) == pair.metadata)
        let counters = Dictionary(uniqueKeysWithValues: comparison.normCounters.map { ($0.layer, [$0.a, $0.b]) })
        #expect(counters == pair.numBatchesTracked)
        #expect(comparison.ignoredMetadata.contains { $0.field == "source.sha256" })
    }

    @Test("a file missing a tensor is read with a note, and the other direction lists it as only in B")
    func missingTensor() throws {
        let pair = try DiffManifest.pair("missing")
        let read = try CheckpointImporter.readContents(Fixtures.path(pair.b))
        #expect(read.layout == "milesial")
        #expect(read.contents.architecture != nil)
        let key = try #require(pair.onlyInA.first)
        #expect(read.contents.notes.contains { $0.contains(key) })
        #expect(throws: FormatError.self) { try CheckpointImporter.read(Fixtures.path(pair.b)) }
        let reversed = try compare(pair.b, pair.a)
        #expect(reversed.onlyInB.map(\.key) == pair.onlyInA)
        #expect(reversed.onlyInA.isEmpty && !reversed.equal)
    }

    @Test("the same weights in two formats are equal, provenance aside")
    func conversionIsEqual() throws {
        let comparison = try compare("pytorch/milesial-tiny.pth", "safetensors/milesial-tiny.safetensors")
        #expect(comparison.equal)
        #expect(comparison.tensors.allSatisfy { $0.valuesIdentical })
        let expected = try Fixtures.expected(at: "pytorch/milesial-tiny.expected.json")
        #expect(comparison.tensors.count == expected.tensors.count)
        #expect(!comparison.ignoredMetadata.isEmpty)
        let strict = try compare(
            "pytorch/milesial-tiny.pth", "safetensors/milesial-tiny.safetensors",
            options: ComparisonOptions(allMetadata: true))
        #expect(!strict.equal)
        #expect(strict.metadata.contains { $0.field == "source.format" })
    }

    @Test("a float16 copy is equal within half a float16 step, and differs in dtype unless that is ignored")
    func float16Copy() throws {
        // Round to nearest float16: |a − b| ≤ 2⁻¹¹·|b| for normal values, ≤ 2⁻²⁵ for subnormal ones.
        let tolerance = ComparisonOptions(absoluteTolerance: 0x1p-25, relativeTolerance: 0x1p-11)
        let comparison = try compare("pytorch/milesial-tiny-f16.pth", "pytorch/milesial-tiny.pth", options: tolerance)
        #expect(comparison.valuesEqual)
        #expect(comparison.dtypeDifferences.count == comparison.tensors.count)
        #expect(comparison.tensors.allSatisfy { $0.dtypeA == .float16 && $0.dtypeB == .float32 })
        #expect(!comparison.equal)
        var ignoring = tolerance
        ignoring.ignoreDType = true
        #expect(try compare("pytorch/milesial-tiny-f16.pth", "pytorch/milesial-tiny.pth", options: ignoring).equal)
        let exact = try compare("pytorch/milesial-tiny-f16.pth", "pytorch/milesial-tiny.pth")
        #expect(!exact.valuesEqual)
    }
}
