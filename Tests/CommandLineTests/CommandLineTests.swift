import Foundation
import TestSupport
import Testing
import UNetCheckpoint

/// End-to-end runs of the built `unet-ckpt` on real files.
@Suite("Command line")
struct CommandLineTests {
    let paper = Fixtures.path("h5py/paper-tiny.h5")

    @Test("inspect prints the architecture, stages, totals, tensors and metadata")
    func inspectText() throws {
        let result = try runUNetCkpt(["inspect", paper])
        #expect(result.status == 0)
        let text = result.standardOutput
        for expected in [
            "format: unet-h5, schema 1.0\nread through the migration: schema 1.0's architecture described in 2.0",
            "paper: 1 → 2 channels, 2-D, 3 encoder stages, 2 decoder stages, 1 head",
            "encoder.1: max-pool 2×2, conv 3×3 valid → 8, ReLU, conv 3×3 valid → 8, ReLU, dropout 0.5",
            "skip from encoder.1 (concat, skip first, crop skip to size)", "uses only schema 1.0 features",
            "  encoder.2      2  8 → 16     3,488", "input sides: 44, 48, 52, … (every 4)",
            "7,402 parameters in 26 tensors (float32 ×26)",
            "classes: background, cell", "momentum 0.99",
        ] {
            #expect(text.contains(expected), "missing \(expected)")
        }
        let upRow = text.split(separator: "\n").first { $0.contains("decoder.1.up.weight") }
        #expect(upRow.map { $0.contains("16×8×2×2") && $0.contains("IOHW") && $0.contains("0x6268f4b8") } == true)
        #expect(result.standardError.isEmpty)
    }

    @Test("inspect --json is one stable document with the documented fields")
    func inspectJSON() throws {
        let result = try runUNetCkpt(["inspect", "--json", "--stats", Fixtures.path("h5py/milesial-tiny.h5")])
        #expect(result.status == 0)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(document["schema_version"] as? String == "1.0")
        let totals = try #require(document["totals"] as? [String: Any])
        let expected = try Fixtures.expected("milesial-tiny")
        #expect(totals["parameters"] as? Int == expected.totalParameters)
        let tensors = try #require(document["tensors"] as? [[String: Any]])
        #expect(tensors.map { $0["key"] as? String } == expected.tensors.map(\.key))
        #expect(tensors.allSatisfy { $0["checksum"] as? String == "ok" })
        let stats = try #require(tensors.first?["statistics"] as? [String: Any])
        #expect(stats["nan_count"] as? Int == 0)
        let stages = try #require(document["stages"] as? [[String: Any]])
        #expect(
            stages.map { $0["name"] as? String } == [
                "encoder.0", "encoder.1", "encoder.2", "encoder.3", "decoder.2", "decoder.1", "decoder.0", "head",
            ])
        #expect(stages.map { $0["level"] as? Int } == [0, 1, 2, 3, 2, 1, 0, 0])
        let stageParameters = stages.compactMap { $0["parameters"] as? Int }.reduce(0, +)
        #expect(stageParameters == expected.totalParameters)
        #expect((document["migrations"] as? [String])?.count == 1)
        let architecture = try #require(document["architecture"] as? [String: Any])
        #expect(architecture["in_channels"] as? Int == 3)
    }

    @Test("verify accepts a sound file and exits 0")
    func verifyOK() throws {
        let result = try runUNetCkpt(["verify", paper])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("OK (schema 1.0, 26 tensors"))
    }

    @Test("verify names the corrupt tensor and exits 1")
    func verifyCorrupt() throws {
        let directory = try TemporaryDirectory()
        let damaged = directory.file("damaged.h5")
        // Find head.out.weight's bytes through inspect --json? Its offset comes from the expected data:
        // flip the byte that holds the first value of the tensor, located by searching its bytes.
        let expected = try Fixtures.expected("paper-tiny")
        let entry = try #require(expected.tensors.first { $0.key == "head.out.weight" })
        let file = try Data(contentsOf: URL(fileURLWithPath: paper))
        let range = try #require(file.range(of: expected.bytes(of: entry)))
        try copyFlippingByte(from: paper, to: damaged, at: range.lowerBound + 3)
        let result = try runUNetCkpt(["verify", damaged])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("FAILED (1 problem(s) in 26 tensors)"))
        #expect(result.standardOutput.contains("head.out.weight: tensor head.out.weight is corrupt"))
        let json = try runUNetCkpt(["verify", "--json", damaged])
        #expect(json.status == 1)
        let document = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
        #expect(document?["valid"] as? Bool == false)
    }

    @Test("unreadable or unsupported input gets one clear line and exit 2")
    func unreadableInput() throws {
        let directory = try TemporaryDirectory()
        let text = directory.file("notes.h5")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: text))
        let cases: [(String, String)] = [
            (directory.file("missing.h5"), "no such file"),
            (text, "not"),
            (Fixtures.path("h5py/paper-tiny-major-3.0.h5"), "schema_version 3.0 is too new"),
        ]
        for (file, message) in cases {
            for command in ["inspect", "verify"] {
                let result = try runUNetCkpt([command, file])
                #expect(result.status == 2, "\(command) \(file)")
                #expect(result.standardError.hasPrefix("error: \(file): "), "\(result.standardError)")
                #expect(result.standardError.contains(message))
                if file == text {
                    #expect(
                        result.standardError.contains(
                            command == "inspect" ? "not a checkpoint format" : "not an HDF5 file"))
                }
                #expect(result.standardError.split(separator: "\n").count == 1)
            }
        }
    }

    @Test("convert changes dtype and storage, reports the rounding error, never touches the input")
    func convert() throws {
        let directory = try TemporaryDirectory()
        let before = try Data(contentsOf: URL(fileURLWithPath: paper))
        let output = directory.file("paper-bf16.h5")
        let result = try runUNetCkpt(["convert", paper, output, "--dtype", "bf16", "--compress"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("converted to bfloat16: largest absolute error"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: paper)) == before)
        let inspect = try runUNetCkpt(["inspect", "--json", output])
        let document = try JSONSerialization.jsonObject(with: Data(inspect.standardOutput.utf8)) as? [String: Any]
        let totals = document?["totals"] as? [String: Any]
        #expect((totals?["dtypes"] as? [String: Int]) == ["bfloat16": 26])
        let tensors = document?["tensors"] as? [[String: Any]]
        #expect(tensors?.allSatisfy { $0["storage"] as? String == "chunked+shuffle+gzip" } == true)
        // The bf16 values equal what PyTorch rounds to (the bf16 fixture was made by torch).
        let torch = try Fixtures.expected("paper-tiny-bf16")
        #expect(tensors?.map { $0["crc32"] as? String } == torch.tensors.map { String(format: "0x%08x", $0.crc32) })
        #expect(try runUNetCkpt(["verify", output]).status == 0)
    }

    @Test("convert refuses to overwrite its input and bad options, with usage errors")
    func convertRefusals() throws {
        let directory = try TemporaryDirectory()
        for arguments in [
            ["convert", paper, paper], ["convert", paper, directory.file("x.h5"), "--dtype", "f64"],
            ["convert", paper, directory.file("x.h5"), "--schema-version", "one"],
        ] {
            let result = try runUNetCkpt(arguments)
            #expect(result.status == 64, "\(arguments)")
        }
        let old = try runUNetCkpt(["convert", paper, directory.file("x.h5"), "--schema-version", "0.9"])
        #expect(old.status == 2)
        #expect(old.standardError.contains("writes schema 1.0, 2.0, 2.1, not 0.9"))
        #expect(try directory.contents().isEmpty)
    }
}

/// `convert` and `inspect` on files made by the real frameworks.
@Suite("Command line: other formats")
struct ConvertCommandTests {
    @Test("a milesial .pth converts without hints, records its provenance, and goes back to .pth")
    func milesialRoundTrip() throws {
        let directory = try TemporaryDirectory()
        let source = Fixtures.path("pytorch/milesial-tiny-dataparallel.pth")
        let ours = directory.file("model.h5")
        let result = try runUNetCkpt(["convert", source, ours])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("read pytorch, layout milesial"))
        #expect(result.standardError.contains("module."))
        let inspect = try runUNetCkpt(["inspect", "--json", ours])
        let document = try JSONSerialization.jsonObject(with: Data(inspect.standardOutput.utf8)) as? [String: Any]
        let metadata = document?["metadata"] as? [String: Any]
        let provenance = metadata?["source"] as? [String: Any]
        #expect(provenance?["layout"] as? String == "milesial")
        #expect(provenance?["file_name"] as? String == "milesial-tiny-dataparallel.pth")
        #expect(provenance?["sha256"] as? String == (try sha256sum(source)))
        #expect(metadata?["mask_values"] as? [Int] == [0, 1])

        let back = directory.file("back.pth")
        #expect(try runUNetCkpt(["convert", ours, back]).status == 0)
        let again = try runUNetCkpt(["inspect", "--json", back])
        #expect(again.status == 0)
        let tensors = (try JSONSerialization.jsonObject(with: Data(again.standardOutput.utf8)) as? [String: Any])?[
            "tensors"]
        let before = document?["tensors"]
        #expect(crcs(tensors) == crcs(before) && !crcs(before).isEmpty)
    }

    @Test("inspect reads a Keras file and a mapping-file layout directly")
    func inspectForeign() throws {
        let keras = try runUNetCkpt(["inspect", Fixtures.path("keras/unet-tiny.keras")])
        #expect(keras.status == 0)
        #expect(keras.standardOutput.contains("format: keras, layout keras-functional"))
        #expect(keras.standardOutput.contains("conv 1×1 valid → 1, sigmoid"))
        let custom = try runUNetCkpt([
            "inspect", Fixtures.path("pytorch/paper-custom.pth"), "--map", Fixtures.path("maps/paper-custom.json"),
        ])
        #expect(custom.status == 0, "\(custom.standardError)")
        #expect(custom.standardOutput.contains("input sides: 188, 204, 220, … (every 16)"))
        // Without the mapping file: its tensors under their own keys, and the way to a network.
        let unmapped = try runUNetCkpt(["inspect", Fixtures.path("pytorch/paper-custom.pth")])
        #expect(unmapped.status == 0)
        #expect(unmapped.standardOutput.contains("format: pytorch, not read as a network"))
        #expect(unmapped.standardOutput.contains("--map"))
        let convert = try runUNetCkpt(["convert", Fixtures.path("pytorch/paper-custom.pth"), "/dev/null/x.h5"])
        #expect(convert.status == 2)
        #expect(convert.standardError.contains("--map"))
    }

    @Test("a malicious pickle is refused in one line, naming the global, and nothing runs")
    func hostilePickle() throws {
        let marker = "/tmp/unet-ckpt-pwned-os-system"
        try? FileManager.default.removeItem(atPath: marker)
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt([
            "convert", Fixtures.path("pytorch/hostile/os-system.pth"), directory.file("x.h5"),
        ])
        #expect(result.status == 2)
        #expect(result.standardError.contains("posix.system"))
        #expect(result.standardError.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(try directory.contents().isEmpty)
    }

    @Test("layouts that cannot hold the network and unknown extensions are refused")
    func refusals() throws {
        let directory = try TemporaryDirectory()
        let paper = Fixtures.path("h5py/paper-tiny.h5")
        let wrong = try runUNetCkpt(["convert", paper, directory.file("x.pth"), "--layout", "monai-basicunet"])
        #expect(wrong.status == 2)
        #expect(wrong.standardError.contains("not one the monai-basicunet layout describes"))
        let unknown = try runUNetCkpt(["convert", paper, directory.file("x.onnx2")])
        #expect(unknown.status == 64)
        #expect(try directory.contents().isEmpty)
    }

    /// The stored CRC-32 column of an `inspect --json` tensor list.
    private func crcs(_ tensors: Any?) -> [String] {
        ((tensors as? [[String: Any]]) ?? []).compactMap { $0["crc32"] as? String }
    }

    /// SHA-256 of a file by coreutils' `sha256sum`, an implementation independent of ours.
    private func sha256sum(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(String(decoding: output, as: UTF8.self).prefix(64))
    }
}

/// `predict`, embedded probes and `verify --roundtrip`.
@Suite("Command line: inference")
struct InferenceCommandTests {
    @Test("predict tiles an image of any size as the independent reference does")
    func predictTiled() throws {
        let directory = try TemporaryDirectory()
        let output = directory.file("out.npy")
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input",
            Fixtures.path("tiling/paper-tiny-tile92.input.npy"),
            "--output", output, "--tile", "92",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let ours = try Data(contentsOf: URL(fileURLWithPath: output))
        let reference = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tiling/paper-tiny-tile92.output.npy")))
        #expect(ours.count == reference.count)  // same header and shape; values are compared in TilingTests
    }

    @Test("predict refuses an invalid size for a valid network, naming the nearest sizes and --tile")
    func predictInvalidSize() throws {
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input",
            Fixtures.path("tiling/paper-tiny-tile92.input.npy"),
            "--output", directory.file("out.npy"),
        ])
        #expect(result.status == 2)
        #expect(result.standardError.contains("height 137 is not valid for this network (nearest valid: 136 or 140)"))
        #expect(result.standardError.contains("--tile"))
        #expect(try directory.contents().isEmpty)
    }

    @Test("predict reads NHWC Keras inputs and gives the framework's output")
    func predictKeras() throws {
        let directory = try TemporaryDirectory()
        let output = directory.file("out.npy")
        let result = try runUNetCkpt([
            "predict", Fixtures.path("keras/unet-tiny.keras"), "--input",
            Fixtures.path("keras/unet-tiny.probe-input.npy"),
            "--output", output,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(FileManager.default.fileExists(atPath: output))
    }

    @Test("an embedded probe is checked by verify, and a tampered probe fails it")
    func embeddedProbe() throws {
        let directory = try TemporaryDirectory()
        let model = directory.file("model.h5")
        let convert = try runUNetCkpt([
            "convert", Fixtures.path("pytorch/monai-basicunet-tiny.pth"), model, "--embed-probe",
        ])
        #expect(convert.status == 0, "\(convert.standardError)")
        let verify = try runUNetCkpt(["verify", model])
        #expect(verify.status == 0)
        #expect(verify.standardOutput.contains("probe: ok"))
        // The generator's probe (PyTorch's output) passes too.
        #expect(try runUNetCkpt(["verify", Fixtures.path("broken/probe-ok.h5")]).status == 0)
        // A probe whose output is not the network's: checksums hold, behaviour does not.
        var checkpoint = try CheckpointFile(path: model).read()
        var probe = try #require(checkpoint.probe)
        probe.output = Tensor(shape: probe.output.shape, values: probe.output.floatValues().map { $0 + 0.01 })
        checkpoint.probe = probe
        let tampered = directory.file("tampered.h5")
        try checkpoint.write(to: tampered)
        let result = try runUNetCkpt(["verify", tampered])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("probe: the network's output differs from the embedded probe output"))
    }

    @Test("verify --roundtrip reports every route and passes for lossless ones")
    func roundTrip() throws {
        let result = try runUNetCkpt(["verify", "--roundtrip", "--json", Fixtures.path("h5py/milesial-tiny.h5")])
        #expect(result.status == 0, "\(result.standardOutput)")
        let document = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        let routes = try #require(document?["routes"] as? [[String: Any]])
        let names = routes.compactMap { $0["name"] as? String }
        #expect(names.starts(with: ["unet-h5", "pytorch", "safetensors"]))
        #expect(names.contains("unet-h5 bfloat16"))
        for route in routes where (route["tolerance"] as? Double) == 0 {
            #expect(route["max_abs"] as? Double == 0, "\(route)")
        }
    }
}
