import Foundation
import TestSupport
import Testing

/// `unet-ckpt convert IN OUT.onnx`: what it writes, what it refuses and with which exit code.
@Suite("Command line: ONNX export")
struct ONNXCommandTests {
    @Test("convert writes an .onnx model (exit 0), at any supported opset and with BatchNorm folded")
    func export() throws {
        let directory = try TemporaryDirectory()
        for (index, extra) in [[], ["--opset", "13"], ["--opset", "21", "--fold-batchnorm"]].enumerated() {
            let output = directory.file("model\(index).onnx")
            let result = try runUNetCkpt(["convert", Fixtures.path("pytorch/milesial-tiny.pth"), output] + extra)
            #expect(result.status == 0, "\(extra): \(result.standardError)")
            #expect(result.standardOutput.contains("(onnx)"))
            let bytes = try Data(contentsOf: URL(fileURLWithPath: output))
            // ModelProto field 1 (ir_version) comes first.
            #expect(bytes.first == 0x08 && bytes.count > 10_000)
        }
        // --to onnx without the extension.
        let named = directory.file("model.bin")
        #expect(try runUNetCkpt(["convert", Fixtures.path("h5py/paper-tiny.h5"), named, "--to", "onnx"]).status == 0)
    }

    @Test("reading an .onnx is refused as export-only (exit 2), by extension or by content")
    func exportOnly() throws {
        let directory = try TemporaryDirectory()
        let model = directory.file("model.onnx")
        #expect(try runUNetCkpt(["convert", Fixtures.path("h5py/paper-tiny.h5"), model]).status == 0)
        let renamed = directory.file("model.bin")
        try FileManager.default.copyItem(atPath: model, toPath: renamed)
        for input in [model, renamed] {
            for arguments in [
                ["convert", input, directory.file("back.h5")], ["inspect", input],
                [
                    "predict", input, "--input", Fixtures.path("pytorch/paper-custom.probe-input.npy"), "--output",
                    directory.file("out.npy"),
                ],
            ] {
                let result = try runUNetCkpt(arguments)
                #expect(result.status == 2, "\(arguments)")
                #expect(result.standardError.contains("export-only"), "\(arguments): \(result.standardError)")
            }
        }
        let forced = try runUNetCkpt(["convert", model, directory.file("back.h5"), "--from", "onnx"])
        #expect(forced.status == 2 && forced.standardError.contains("export-only"))
        #expect(!FileManager.default.fileExists(atPath: directory.file("back.h5")))
    }

    @Test("--opset outside 13-21 and ONNX options on other outputs are usage errors (exit 64)")
    func usage() throws {
        let directory = try TemporaryDirectory()
        let input = Fixtures.path("h5py/paper-tiny.h5")
        for arguments in [
            [directory.file("a.onnx"), "--opset", "12"], [directory.file("a.onnx"), "--opset", "22"],
            [directory.file("a.onnx"), "--layout", "milesial"], [directory.file("a.h5"), "--opset", "17"],
            [directory.file("a.pth"), "--fold-batchnorm"],
        ] {
            let result = try runUNetCkpt(["convert", input] + arguments)
            #expect(result.status == 64, "\(arguments): \(result.standardError)")
        }
        #expect(try directory.contents().isEmpty)
    }
}
