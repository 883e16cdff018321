import Foundation
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetFormats

/// unet-h5 → every format → unet-h5 keeps every tensor bit for bit, and what each route
/// promises of the metadata.
@Suite("Round trips through every format")
struct RoundTripTests {
    static let cases: [(String, UNetArchitecture, CheckpointFormat, String)] = [
        ("milesial.pth", .milesial(inChannels: 3, classes: 2, bilinear: false, baseWidth: 2), .pytorch, "milesial"),
        (
            "milesial-bilinear.safetensors", .milesial(inChannels: 1, classes: 3, bilinear: true, baseWidth: 2),
            .safetensors, "milesial"
        ),
        (
            "monai.pth", .monaiBasicUNet(inChannels: 1, outChannels: 2, features: [4, 4, 8, 16, 32, 4]), .pytorch,
            "monai-basicunet"
        ),
        (
            "monai.safetensors", .monaiBasicUNet(inChannels: 2, outChannels: 3, features: [4, 8, 8, 16, 16, 8]),
            .safetensors, "monai-basicunet"
        ),
        ("paper.pth", .paper(widths: [4, 8, 16]), .pytorch, "unet-ckpt"),
        ("paper.safetensors", .paper(widths: [4, 8, 16]), .safetensors, "unet-ckpt"),
        ("keras.weights.h5", .kerasFunctional(widths: [4, 8, 16, 32]), .kerasWeights, "keras-functional"),
        ("keras-legacy.h5", .kerasFunctional(widths: [4, 8, 16, 32]), .kerasH5, "keras-functional"),
    ]

    @Test("tensors come back bitwise and the layout is recognised", arguments: cases.indices)
    func roundTrip(index: Int) throws {
        let (name, architecture, format, layout) = Self.cases[index]
        let directory = try TemporaryDirectory()
        var original = try syntheticCheckpoint(architecture, seed: UInt64(index + 1))
        let norms = try architecture.network().tensorSpecs.filter { $0.key.hasSuffix(".running_mean") }.map(\.layer)
        original.normCounters = Dictionary(uniqueKeysWithValues: norms.enumerated().map { ($1, Int64(100 + $0)) })
        let path = directory.file(name)
        try CheckpointExporter.write(original, to: path, format: format, layout: layout)
        #expect(try CheckpointFormat.detect(path) == format)

        let imported = try CheckpointImporter.read(path)
        #expect(imported.layout == layout)
        #expect(imported.format == format)
        let back = imported.checkpoint
        // Keras' weights carry no dropout rates; everything else of the architecture is recovered.
        let expected = original.architecture
        #expect(
            back.architecture.differences(from: expected).isEmpty, "\(back.architecture.differences(from: expected))")
        for (key, tensor) in original.tensors { #expect(back.tensors[key] == tensor, "\(key)") }
        if format == .pytorch || format == .safetensors {
            #expect(back.normCounters == original.normCounters)
            #expect(back.metadata.maskValues == original.metadata.maskValues)
        }
        if format == .safetensors || layout == "unet-ckpt" {
            #expect(back.metadata.classes == ["background", "cell"])
        }
        #expect(try directory.contents() == [name], "no temporary file left")
    }

    @Test("an export refuses a layout that cannot describe the network, naming the fields")
    func refusesWrongLayout() throws {
        let directory = try TemporaryDirectory()
        let paper = try syntheticCheckpoint(.paper(widths: [4, 8, 16]))
        #expect {
            try CheckpointExporter.write(paper, to: directory.file("x.pth"), format: .pytorch, layout: "milesial")
        } throws: { error in
            let message = (error as! FormatError).message
            return message.contains("conv.padding is valid, the layout's is same") && message.contains("--layout")
        }
        #expect {
            try CheckpointExporter.write(
                paper, to: directory.file("x.weights.h5"), format: .kerasWeights, layout: "milesial")
        } throws: { error in (error as! FormatError).message.contains("keras-functional") }
        #expect(try directory.contents().isEmpty)
    }
}
