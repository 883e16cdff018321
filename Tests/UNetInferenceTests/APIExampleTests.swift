import TestSupport
import Testing
import UNetCheckpoint
import UNetFormats
import UNetInference

/// The README's inference example, with the public API only.
@Suite("Documented inference example")
struct InferenceExampleTests {
    @Test func loadAndPredict() throws {
        let checkpoint = try CheckpointImporter.read(Fixtures.path("pytorch/milesial-tiny.pth")).checkpoint
        let model = try UNetModel(checkpoint)
        let image = try NumpyArray(contentsOf: Fixtures.path("pytorch/milesial-tiny.probe-input.npy")).featureMap()
        let logits = try model.predict(image)
        #expect(logits.shape == [1, 2, 32, 32])
        let tiled = try OverlapTile(model: model, tile: 32, halo: 0).predict(image)
        #expect(tiled == logits)  // one tile covering the image, nothing discarded: the same pass
    }
}
