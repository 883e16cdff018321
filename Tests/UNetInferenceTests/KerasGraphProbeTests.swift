import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetFormats

@testable import UNetInference

/// A hand-written Keras functional U-Net read from its graph predicts what Keras computed.
@Suite("Forward pass of a Keras graph")
struct KerasGraphProbeTests {
    @Test("the hand-written U-Net's probe is reproduced, from the .keras and the legacy .h5")
    func handWritten() throws {
        let folder = "libraries/keras/"
        let input = try NumpyArray(contentsOf: Fixtures.path(folder + "hand-written-unet.probe-input.npy"))
        let expected = try NumpyArray(contentsOf: Fixtures.path(folder + "hand-written-unet.probe-output.npy"))
        for file in ["hand-written-unet.keras", "hand-written-unet.h5"] {
            let checkpoint = try CheckpointImporter.read(Fixtures.path(folder + file)).checkpoint
            let output = try UNetModel(checkpoint).predict(input.featureMap())
            #expect(output.shape == expected.shape, "\(file)")
            let difference = ProbeMaker.compare(output.values, expected.values, rtol: 1e-4, atol: 1e-5)
            #expect(difference.within, "\(file): largest relative difference \(difference.relative)")
        }
    }
}
