import Foundation
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetInference

/// The overlap-tile strategy against references computed independently with numpy's reflection
/// padding and PyTorch (fixtures/tiling/, made by fixtures/generate.py).
@Suite("Overlap-tile")
struct TilingTests {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let checkpoint: String
        let input: String
        let output: String
        let tile: Int?
        var testDescription: String { input }
    }

    static var cases: [Case] { get throws { try Fixtures.entries("tiling/index.json") } }

    @Test("the tiling index is there")
    func index() throws { #expect(try Self.cases.count >= 3) }

    @Test("tiled and whole-image outputs match the reference within 1e-4 relative", arguments: try cases)
    func reference(_ entry: Case) throws {
        let model = try UNetModel(try CheckpointFile(path: Fixtures.path(entry.checkpoint)).read())
        let input = try NumpyArray(contentsOf: Fixtures.path(entry.input)).featureMap()
        let expected = try NumpyArray(contentsOf: Fixtures.path(entry.output))
        let output: FeatureMap
        if let tile = entry.tile {
            let tiler = try OverlapTile(model: model, tile: tile)
            var calls = 0
            output = try tiler.predict(input) { _, _ in calls += 1 }
            #expect(calls == tiler.tileCount(height: input.height, width: input.width))
        } else {
            output = try model.predict(input)
        }
        #expect(output.shape == expected.shape)
        let difference = ProbeMaker.compare(output.values, expected.values, rtol: 1e-4, atol: 1e-5)
        #expect(difference.within, "largest relative difference \(difference.relative)")
    }

    @Test("reflection repeats like numpy's reflect mode")
    func reflect() {
        // numpy.pad(np.arange(4), 7, mode="reflect") = [1 0 1 2 3 2 1 | 0 1 2 3 | 2 1 0 1 2 3 2]
        #expect((-7..<0).map { OverlapTile.reflect($0, 4) } == [1, 0, 1, 2, 3, 2, 1])
        #expect((4..<11).map { OverlapTile.reflect($0, 4) } == [2, 1, 0, 1, 2, 3, 2])
        #expect(OverlapTile.reflect(5, 1) == 0)
    }

    @Test("an invalid tile side is refused with the nearest valid sides")
    func invalidTile() throws {
        let model = try UNetModel(try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5")).read())
        #expect {
            _ = try OverlapTile(model: model, tile: 90)
        } throws: { error in (error as! InferenceError).message.contains("nearest valid: 88 or 92") }
    }

    @Test("same-padding networks tile with a halo close to the whole-image result")
    func samePaddingHalo() throws {
        let checkpoint = try CheckpointFile(path: Fixtures.path("h5py/milesial-bilinear-tiny-f16.h5")).read()
        let model = try UNetModel(checkpoint)
        let image = ProbeMaker.input(for: checkpoint.network, side: 160)
        let whole = try model.predict(image)
        let tiled = try OverlapTile(model: model, tile: 96, halo: 32).predict(image)
        #expect(tiled.shape == whole.shape)
        let difference = ProbeMaker.compare(tiled.values, whole.values, rtol: 0, atol: 0)
        let scale = Double(whole.values.map { abs($0) }.max()!)
        // Documented in docs/inference.md: a wide halo keeps tiles within a small share of the output range.
        #expect(difference.absolute <= 0.05 * scale, "\(difference.absolute) of \(scale)")
    }
}
