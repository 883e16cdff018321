import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetFormats

@testable import UNetInference

/// The forward pass reproduces what PyTorch, MONAI and Keras computed for the same input
/// (probes stored by fixtures/generate.py, computed in float64 by the frameworks).
@Suite("Forward pass against the frameworks")
struct ProbeTests {
    /// The frameworks' files, and onnx/: schema options no framework fixture has, with the output
    /// of torch.nn.functional's ops as the probe.
    static var fixtures: [Fixtures.SourceFixture] {
        get throws {
            (try Fixtures.sources("pytorch") + Fixtures.sources("safetensors") + Fixtures.sources("keras")
                + Fixtures.sources("onnx")).filter { !$0.file.hasSuffix("old-format.pth") }
        }
    }

    @Test("the onnx/ variants are listed, each with its probe input and output")
    func onnxVariantsPresent() throws {
        let variants = try Fixtures.sources("onnx")
        #expect(
            Set(variants.map(\.file)).isSuperset(of: [
                "onnx/interp-softmax.safetensors", "onnx/nearest-replicate-sigmoid.safetensors",
                "onnx/valid-transposed-softmax.safetensors",
            ]))
        for variant in variants {
            let probe = try #require(
                try Fixtures.json(at: variant.expected)["probe"] as? [String: Any], "\(variant.file)")
            for key in ["input", "output"] {
                let file = try #require(probe[key] as? String, "\(variant.file): probe \(key)")
                #expect(FileManager.default.fileExists(atPath: Fixtures.path(file)), "\(file)")
            }
        }
    }

    @Test("every fixture's probe output is reproduced within 1e-4 relative", arguments: try fixtures)
    func probe(_ fixture: Fixtures.SourceFixture) throws {
        let document = try Fixtures.json(at: fixture.expected)
        let probe = try #require(document["probe"] as? [String: Any])
        let mapping = try fixture.map.map { try MappingFile(path: Fixtures.path($0)) }
        let checkpoint = try CheckpointImporter.read(Fixtures.path(fixture.file), mapping: mapping).checkpoint
        let input = try NumpyArray(contentsOf: Fixtures.path(probe["input"] as! String))
        let expected = try NumpyArray(contentsOf: Fixtures.path(probe["output"] as! String))
        let output = try UNetModel(checkpoint).predict(input.featureMap())
        #expect(output.shape == expected.shape)
        let difference = ProbeMaker.compare(output.values, expected.values, rtol: 1e-4, atol: 1e-5)
        #expect(difference.within, "\(fixture.file): largest relative difference \(difference.relative)")
    }

    @Test("an embedded probe written by the generator is reproduced")
    func embeddedProbe() throws {
        let file = try CheckpointFile(path: Fixtures.path("broken/probe-ok.h5"))
        let probe = try #require(try file.readProbe())
        let output = try UNetModel(file.read()).predict(
            FeatureMap(batch: 1, channels: 1, height: 44, width: 44, values: probe.input.floatValues()))
        let difference = ProbeMaker.compare(output.values, probe.output.floatValues(), rtol: 1e-4, atol: 1e-5)
        #expect(difference.within, "largest relative difference \(difference.relative)")
    }

    @Test("inputs of invalid size or channel count are refused, naming the nearest valid sizes")
    func invalidInput() throws {
        let model = try UNetModel(try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5")).read())
        #expect {
            _ = try model.predict(FeatureMap(batch: 1, channels: 1, height: 50, width: 44))
        } throws: { error in
            (error as! InferenceError).message.contains(
                "height 50 is not valid for this network (nearest valid: 48 or 52)")
        }
        #expect(throws: InferenceError.self) {
            _ = try model.predict(FeatureMap(batch: 1, channels: 3, height: 44, width: 44))
        }
    }
}
