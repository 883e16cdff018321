import TestSupport
import Testing
import UNetCheckpoint

/// The rules of `CheckpointComparison` (docs/cli.md `diff`) on small tensors and synthetic checkpoints.
@Suite("Comparison rules")
struct ComparisonTests {
    func difference(_ a: [Float], _ b: [Float], atol: Double = 0, rtol: Double = 0) -> TensorDifference {
        TensorDifference(
            key: "t", a: Tensor(shape: [a.count], values: a), b: Tensor(shape: [b.count], values: b),
            absoluteTolerance: atol, relativeTolerance: rtol)
    }

    @Test("equal means |a − b| ≤ atol + rtol·|b|, B the reference")
    func toleranceRule() {
        #expect(difference([1], [1.25]).changed == 1)
        #expect(difference([1], [1.25], atol: 0.25).changed == 0)
        #expect(difference([1], [1.25], atol: 0.125).changed == 1)
        // rtol is relative to B: 0.21·1.25 ≥ 0.25, but 0.21·1 < 0.25.
        #expect(difference([1], [1.25], rtol: 0.21).changed == 0)
        #expect(difference([1.25], [1], rtol: 0.21).changed == 1)
        let d = difference([1, 2, -3, 0], [1.25, 2, -3.5, 0])
        #expect(d.maxAbs == 0.5)
        #expect(d.maxRel == 0.25 / 1.25)
        #expect(d.changed == 2 && d.changedFraction == 0.5)
        // An element where B is 0 is left out of max_rel; only atol makes it equal.
        #expect(difference([1], [0]).maxRel == nil)
        #expect(difference([1], [0], rtol: 100).changed == 1)
    }

    @Test("the largest difference: absolute, relative to the expected value, and the values outside a tolerance")
    func largestDifference() {
        let d = LargestDifference([1, 2, -3, 5], [1.25, 2, -3.5, 0], absoluteTolerance: 0.3)
        #expect(d.absolute == 5 && d.relative == 0.25 / 1.25)
        #expect(d.outside == 2 && !d.within)
        #expect(LargestDifference([1], [0]).relative == nil)
        #expect(LargestDifference([], []).absolute == 0 && LargestDifference([], []).within)
        // A NaN difference is passed over but is never within; an infinite one counts.
        let nan = LargestDifference([.nan, 1], [1, 1.5], absoluteTolerance: 1)
        #expect(nan.absolute == 0.5 && nan.outside == 1)
        #expect(LargestDifference([.infinity], [1]).absolute == .infinity)
        let lengths = LargestDifference([1, 2], [1])
        #expect(lengths.absolute == .infinity && lengths.relative == .infinity && lengths.outside == 2)
    }

    @Test("NaN equals NaN, an infinity itself; other non-finite pairs are changed and left out of the numbers")
    func nonFinite() {
        let same = difference([.nan, .infinity, -.infinity, 1], [.nan, .infinity, -.infinity, 1])
        #expect(same.changed == 0 && same.nonFinite == 0 && same.valuesIdentical)
        let other = difference([.nan, .infinity, 1, 2], [1, -.infinity, .nan, 2.5])
        #expect(other.nonFinite == 3 && other.changed == 4)
        #expect(other.maxAbs == 0.5)
        #expect(other.cosine == 1)
    }

    @Test("cosine in float64; undefined when a side is all zero")
    func cosine() {
        #expect(difference([1, 0], [0, 1]).cosine == 0)
        #expect(difference([1, 2], [-1, -2]).cosine == -1)
        #expect(difference([0, 0], [0, 0]).cosine == nil)
        #expect(difference([0, 0], [1, 0]).cosine == nil)
        let values: [Float] = [3, 4]
        let widened = TensorDifference(
            key: "t", a: Tensor(shape: [2], values: values),
            b: Tensor(shape: [2], values: values).converted(to: .float16))
        #expect(widened.cosine == 1 && widened.valuesIdentical && widened.dtypeDiffers)
    }

    @Test("another width: architecture fields, shape mismatches, tensors on one side only")
    func architectureDifference() throws {
        let narrow = try syntheticCheckpoint(.paper(widths: [4, 8, 16]))
        let wide = try syntheticCheckpoint(.paper(widths: [4, 8, 32]))
        let deeper = try syntheticCheckpoint(.paper(widths: [4, 8, 16, 32]))
        let comparison = try CheckpointComparison(CheckpointContents(narrow), CheckpointContents(wide))
        #expect(!comparison.equal && !comparison.valuesEqual)
        #expect(comparison.architecture.map(\.field) == ["encoder[2].layers[1].out", "encoder[2].layers[3].out"])
        #expect(comparison.architecture.first?.a == .number(16) && comparison.architecture.first?.b == .number(32))
        let expectedMismatches = try narrow.architecture.network().tensorSpecs.filter { spec in
            try wide.architecture.network().tensorSpecs.contains { $0.key == spec.key && $0.shape != spec.shape }
        }.map(\.key)
        #expect(comparison.shapeMismatches.map(\.key) == expectedMismatches)
        #expect(comparison.shapeMismatches.contains { $0.key == "encoder.2.conv1.weight" })
        #expect(comparison.onlyInA.isEmpty && comparison.onlyInB.isEmpty)
        #expect(comparison.tensors.count == narrow.tensors.count - expectedMismatches.count)

        let deep = try CheckpointComparison(CheckpointContents(narrow), CheckpointContents(deeper))
        let extra = Set(try deeper.architecture.network().tensorSpecs.map(\.key)).subtracting(narrow.tensors.keys)
        #expect(Set(deep.onlyInB.map(\.key)) == extra)
        #expect(deep.onlyInB.map(\.key).contains("encoder.3.conv0.weight"))
    }

    @Test("provenance metadata is reported but counts only with allMetadata")
    func metadata() throws {
        let base = try syntheticCheckpoint(.paper(widths: [4, 8, 16]))
        var converted = base
        converted.metadata.source = CheckpointMetadata.Source(format: "pytorch", fileName: "x.pth")
        let lenient = try CheckpointComparison(CheckpointContents(base), CheckpointContents(converted))
        #expect(lenient.equal)
        #expect(lenient.ignoredMetadata.map(\.field) == ["source.file_name", "source.format"])
        let strict = try CheckpointComparison(
            CheckpointContents(base), CheckpointContents(converted), options: ComparisonOptions(allMetadata: true))
        #expect(!strict.equal && strict.metadata.count == 2)

        var relabelled = base
        relabelled.metadata.classes = ["background", "nucleus"]
        relabelled.metadata.user = ["note": "v2"]
        let comparison = try CheckpointComparison(CheckpointContents(base), CheckpointContents(relabelled))
        #expect(!comparison.equal && comparison.valuesEqual)
        #expect(comparison.metadata.map(\.field) == ["classes", "user.note"])
        #expect(comparison.metadata.last?.a == nil && comparison.metadata.last?.b == .string("v2"))
    }

    @Test("num_batches_tracked counts where both sides hold it")
    func counters() throws {
        let architecture = UNetArchitecture.milesial(inChannels: 1, classes: 2, baseWidth: 2)
        let base = try syntheticCheckpoint(architecture)
        var trained = base
        trained.normCounters = ["encoder.0.norm0": 5]
        #expect(try CheckpointComparison(CheckpointContents(base), CheckpointContents(trained)).equal)
        var other = base
        other.normCounters = ["encoder.0.norm0": 7]
        let comparison = try CheckpointComparison(CheckpointContents(trained), CheckpointContents(other))
        #expect(!comparison.equal)
        #expect(comparison.normCounters.map { "\($0.layer) \($0.a) \($0.b)" } == ["encoder.0.norm0 5 7"])
    }
}
