import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetFormats

@testable import UNetInference

/// Sliding-window prediction against MONAI's `sliding_window_inference` and nnU-Net's predictor,
/// each run by the library itself on a volume larger (or smaller) than its window
/// (fixtures/sliding, written by generate_sliding.py).
@Suite("Sliding-window prediction against MONAI and nnU-Net")
struct SlidingWindowTests {
    struct Case: Decodable {
        let `case`: String
        let checkpoint: String
        let window: [Int]
        let overlap: Double
        let blending: String
        let mirror_axes: [Int]
        let input: String
        let outputs: [String: String]
    }
    struct Importance: Decodable {
        let window: [Int]
        let monai: String
        let nnunet: String
    }
    struct Index: Decodable {
        let cases: [Case]
        let importance: [Importance]
    }

    static func index() throws -> Index {
        try JSONDecoder().decode(
            Index.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("sliding/index.json"))))
    }

    static func cases() throws -> [Case] { try index().cases }

    static func array(_ name: String) throws -> FeatureMap {
        try NumpyArray(contentsOf: Fixtures.path("sliding/\(name)")).featureMap()
    }

    /// The largest absolute difference as a fraction of the expected output's range.
    static func ofRange(_ output: FeatureMap, _ expected: FeatureMap) -> Double {
        ProbeMaker.differenceOfRange(output.values, expected.values).relativeToRange
    }

    static func run(_ entry: Case, sums: SlidingWindow.Sums? = nil) throws -> FeatureMap {
        let checkpoint = try CheckpointImporter.read(Fixtures.path(entry.checkpoint)).checkpoint
        let sliding = try SlidingWindow(
            model: UNetModel(checkpoint), window: entry.window, overlap: entry.overlap,
            blending: try #require(SlidingWindow.Blending(rawValue: entry.blending)), mirrorAxes: entry.mirror_axes,
            sums: sums)
        let input = try array(entry.input)
        var calls = 0
        let output = try sliding.predict(input) { done, total in
            calls += 1
            #expect(done == calls && total == sliding.windowCount(for: input.spatial))
        }
        #expect(calls == sliding.windowCount(for: input.spatial))
        return output
    }

    @Test("MONAI's sliding_window_inference(mode=gaussian), padded or not, within 1e-4 of the range")
    func monai() throws {
        let entries = try Self.cases().filter { $0.blending == "monai" }
        #expect(entries.count == 2)
        for entry in entries {
            let expected = try Self.array(try #require(entry.outputs["monai"]))
            let output = try Self.run(entry)
            #expect(output.shape == expected.shape, "\(entry.case)")
            let difference = Self.ofRange(output, expected)
            #expect(difference <= 1e-4, "\(entry.case): \(difference) of the range")
        }
    }

    @Test("nnU-Net's predictor, with and without mirroring, 3d and 2d slice by slice")
    func nnunet() throws {
        let entries = try Self.cases().filter { $0.blending == "nnunet" }
        #expect(entries.count == 4)
        #expect(entries.contains { !$0.mirror_axes.isEmpty } && entries.contains { $0.window.count == 2 })
        for entry in entries {
            // nnU-Net's own output, float16 sums and all.
            let half = try Self.array(try #require(entry.outputs["nnunet-half"]))
            let output = try Self.run(entry)
            #expect(output.shape == half.shape, "\(entry.case)")
            // Equal, but where the network's float32 output (ours and PyTorch's differ by ~1e-7)
            // falls on the other side of one of the float16 roundings of a sum: there the sums
            // differ by a float16 step (measured: 0.2 % of the values, 2.5e-4 of the range).
            let differing = zip(output.values, half.values).filter { $0 != $1 }.count
            #expect(differing * 100 <= half.values.count, "\(entry.case): \(differing) of \(half.values.count) differ")
            let difference = Self.ofRange(output, half)
            #expect(difference <= 5e-4, "\(entry.case): \(difference) of the range from nnU-Net's float16 output")
            // The same blend with float32 sums (nnU-Net's parts, float32 accumulators).
            let float32 = try Self.array(try #require(entry.outputs["float32"]))
            let accurate = try Self.run(entry, sums: .float32)
            let accurateDifference = Self.ofRange(accurate, float32)
            #expect(accurateDifference <= 1e-4, "\(entry.case): \(accurateDifference) of the range, float32 sums")
        }
    }

    @Test("the Gaussian importance maps are MONAI's and nnU-Net's own")
    func importance() throws {
        let maps = try Self.index().importance
        #expect(maps.count >= 4)
        for map in maps {
            for (blending, file) in [(SlidingWindow.Blending.monai, map.monai), (.nnunet, map.nnunet)] {
                let expected = try NumpyArray(contentsOf: Fixtures.path("sliding/\(file)"))
                #expect(expected.shape == map.window)
                let ours = SlidingWindow.importanceMap(map.window, blending: blending)
                let largest = zip(ours, expected.values).map { abs($0 - $1) / max(abs($1), 1e-30) }.max()!
                // MONAI's float32 exp may differ from ours by an ulp; nnU-Net's float16 map is exact.
                #expect(largest <= (blending == .monai ? 1e-6 : 0), "\(file): \(largest) relative")
            }
        }
    }

    @Test("window starts follow each framework's placement")
    func starts() throws {
        let checkpoint = try CheckpointImporter.read(Fixtures.path("libraries/monai-unet-3d-batch.pth")).checkpoint
        let model = try UNetModel(checkpoint)
        let monai = try SlidingWindow(model: model, window: [16, 16, 16], overlap: 0.5, blending: .monai)
        let nnunet = try SlidingWindow(model: model, window: [16, 16, 16], overlap: 0.5, blending: .nnunet)
        // MONAI: every 8, the last moved back to end at the border; nnU-Net: spread evenly.
        #expect(monai.starts(for: [16, 35, 10]) == [[0], [0, 8, 16, 19], [0]])
        #expect(nnunet.starts(for: [16, 35, 10]) == [[0], [0, 6, 13, 19], [0]])
        #expect(SlidingWindow.subsets(of: [0, 1, 2], size: 2) == [[0, 1], [0, 2], [1, 2]])
    }

    @Test("windows the network cannot take, and bad settings, are refused with the reason")
    func refusals() throws {
        let checkpoint = try CheckpointImporter.read(Fixtures.path("libraries/monai-unet-3d-batch.pth")).checkpoint
        let model = try UNetModel(checkpoint)
        #expect(throws: InferenceError.self) {
            try SlidingWindow(model: model, window: [15, 16, 16], blending: .monai)
        }
        #expect(throws: InferenceError.self) { try SlidingWindow(model: model, window: [16, 16], blending: .monai) }
        #expect(throws: InferenceError.self) {
            try SlidingWindow(model: model, window: [16, 16, 16], overlap: 1, blending: .monai)
        }
        #expect(throws: InferenceError.self) {
            try SlidingWindow(model: model, window: [16, 16, 16], blending: .monai, mirrorAxes: [3])
        }
        let sliding = try SlidingWindow(model: model, window: [16, 16, 16], blending: .monai)
        let twoChannels = FeatureMap(batch: 1, channels: 2, spatial: [16, 16, 16])
        #expect(throws: InferenceError.self) { try sliding.predict(twoChannels) }
    }
}
