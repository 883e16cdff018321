import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetFormats
import UNetImages
import UNetInference
import UNetPipelines

@Suite("Pipelines: prediction")
struct PredictionPipelineTests {
    @Test("a PNG through the library gives the reference mask, and the notes the command line prints")
    func image() throws {
        let entry = try #require(try ImageManifest.committed.predict.first { $0.image == "images/grey8.png" })
        let directory = try TemporaryDirectory()
        let checkpoint = try CheckpointImporter.read(Fixtures.path(entry.checkpoint)).checkpoint
        var request = PredictionRequest(input: Fixtures.path(entry.image), checkpointName: entry.checkpoint)
        request.output = directory.file("mask.png")
        request.normalization = try Normalization(parsing: "scale=1/255,mean=0.5,std=0.005")
        var notes: [String] = []
        var progress: [PredictionProgress] = []
        let result = try Prediction.run(
            request, checkpoint: checkpoint, notes: { notes.append($0) }, progress: { progress.append($0) })
        #expect(result.batch == 1)
        #expect(notes.last?.hasPrefix("wrote \(request.output!): mask of") == true, "\(notes)")
        #expect(progress.last.map { $0.done == $0.total } ?? true)

        let mask = try PixelImage(contentsOf: request.output!)
        let expected = try PixelImage(contentsOf: Fixtures.path(entry.expectedMask))
        #expect(mask.height == expected.height && mask.width == expected.width)
        let ambiguous = Set(entry.ambiguous)
        let differing = mask.values.indices.filter { mask.values[$0] != expected.values[$0] && !ambiguous.contains($0) }
        #expect(differing.isEmpty, "\(differing.count) pixels differ")
    }

    @Test("an overlay of an array is refused before anything runs or is written")
    func overlayOfArray() throws {
        let directory = try TemporaryDirectory()
        let checkpoint = try CheckpointImporter.read(Fixtures.path("h5py/paper-tiny.h5")).checkpoint
        var request = PredictionRequest(
            input: Fixtures.path("pytorch/paper-custom.probe-input.npy"), checkpointName: "paper-tiny.h5")
        request.overlay = directory.file("overlay.png")
        #expect {
            try Prediction.run(request, checkpoint: checkpoint)
        } throws: { error in
            (error as? PipelineError)?.code == .invalidArgument
                && (error as? PipelineError)?.message == "--overlay needs an image input (.png, .tif), not an array"
        }
        #expect(try directory.contents().isEmpty)
    }
}

@Suite("Pipelines: conversion, verification, round trip")
struct ConversionPipelineTests {
    @Test("every route of a fixture's round trip passes; the lossless ones exactly")
    func roundTrip() throws {
        let checkpoint = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5")).read()
        let routes = try RoundTrip.run(checkpoint, input: ProbeMaker.input(for: checkpoint.network))
        let names = routes.map { $0.name }
        #expect(names.first == "unet-h5" && names.count >= 5, "\(names)")
        let failed = routes.filter { !$0.passed }.map { $0.name }
        #expect(failed.isEmpty)
        #expect(routes.filter { $0.tolerance == 0 }.allSatisfy { $0.maxAbsolute == 0 })
        #expect(routes.contains { $0.tolerance == RoundTrip.bfloat16Tolerance && $0.maxAbsolute > 0 })
    }

    @Test("PyTorch's output reproduced is written with its probe, which verifies; a wrong one writes nothing")
    func expectation() throws {
        let (input, output) = ["input", "output"].map { Fixtures.path("pytorch/milesial-tiny.probe-\($0).npy") }.pair
        let directory = try TemporaryDirectory()
        var request = try #require(
            ConversionRequest(input: Fixtures.path("pytorch/milesial-tiny.pth"), output: directory.file("model.h5")))
        #expect(request.destination == .checkpoint(.unetH5))
        request.expectation = .init(input: input, output: output)
        var notes: [String] = []
        try Conversion.run(request) { notes.append($0) }
        #expect(notes.contains { $0.hasPrefix("the converted network reproduces") })
        let verification = Verification(
            file: request.output, checkpoint: try CheckpointFile(path: request.output), roundTrip: false)
        #expect(verification.valid && verification.probe?.passed == true)
        #expect(try CheckpointFile(path: request.output).read().metadata.source?.sha256 != nil)

        request.output = directory.file("wrong.h5")
        // One value off by a tenth of the range: far outside the tolerance.
        var wrong = try NumpyArray(contentsOf: output)
        wrong.values[7] += ((wrong.values.max() ?? 0) - (wrong.values.min() ?? 0)) / 10
        request.expectation?.output = directory.file("wrong-output.npy")
        try wrong.encoded().write(to: URL(fileURLWithPath: directory.file("wrong-output.npy")))
        #expect {
            try Conversion.run(request)
        } throws: { error in
            (error as? PipelineError)?.code == .behaviourMismatch
                && (error as? PipelineError)?.message.hasSuffix("nothing was written") == true
        }
        #expect(!FileManager.default.fileExists(atPath: request.output))
    }

    @Test("ONNX is a destination beside the checkpoint formats, and an .onnx source is refused as export-only")
    func onnx() throws {
        #expect(ConversionFormat(outputPath: "net.onnx") == .onnx)
        #expect(ConversionFormat(outputPath: "net.bioimageio.zip") == .bioImagePackage)
        #expect(ConversionFormat(name: "pytorch") == .checkpoint(.pytorch))
        #expect(ConversionFormat.names.contains("onnx") && !CheckpointFormat.allCases.map(\.rawValue).contains("onnx"))
        let directory = try TemporaryDirectory()
        let model = directory.file("model.onnx")
        try Conversion.run(try #require(ConversionRequest(input: Fixtures.path("h5py/paper-tiny.h5"), output: model)))
        #expect(FileManager.default.fileExists(atPath: model))
        var back = ConversionRequest(input: model, output: directory.file("back.h5"), destination: .checkpoint(.unetH5))
        back.sourceFormat = .onnx
        #expect {
            try Conversion.run(back)
        } throws: { error in
            (error as? FormatError)?.message.contains("export-only") == true
        }
    }
}

@Suite("Pipelines: architecture JSON")
struct ArchitectureJSONTests {
    let paperJSON = Fixtures.packageRoot.appendingPathComponent("docs/images/paper-unet.json").path

    @Test("the paper's architecture JSON reads and builds; other files are not taken for one")
    func paper() throws {
        let architecture = try #require(try UNetArchitecture.readJSONFile(paperJSON))
        #expect(architecture.spatialDims == 2)
        _ = try architecture.network()
        #expect(try UNetArchitecture.readJSONFile(Fixtures.path("h5py/paper-tiny.h5")) == nil)
    }

    @Test("a malformed JSON is not an architecture (notACheckpoint); a wrong one is invalid")
    func malformed() throws {
        let directory = try TemporaryDirectory()
        let broken = directory.file("broken.json")
        try Data("{ \"name\": \"x\", ".utf8).write(to: URL(fileURLWithPath: broken))
        #expect {
            try UNetArchitecture.readJSONFile(broken)
        } throws: { error in
            (error as? CheckpointError)?.kind == .notACheckpoint
        }
        // The paper's network with a decoder level too many: schema 1.0's checks refuse it.
        var fields = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: paperJSON))) as? [String: Any])
        fields["decoder"] = (fields["decoder"] as! [Any]) + [["up_channels": 8, "convs": [8, 8]]]
        let wrong = directory.file("wrong.json")
        try JSONSerialization.data(withJSONObject: fields).write(to: URL(fileURLWithPath: wrong))
        #expect {
            try UNetArchitecture.readJSONFile(wrong)
        } throws: { error in
            (error as? CheckpointError)?.kind == .invalid
        }
    }
}

extension Array {
    /// The first two elements.
    fileprivate var pair: (Element, Element) { (self[0], self[1]) }
}
