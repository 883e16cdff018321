import Foundation
import TestSupport
import Testing

/// `unet-ckpt convert IN OUT.bioimageio.zip` and packages as the input of every command.
@Suite("Command line: BioImage Model Zoo packages")
struct BioImageCommandTests {
    @Test("convert writes a package (exit 0) that inspect, verify, diff, draw, predict and convert read")
    func writeAndRead() throws {
        let directory = try TemporaryDirectory()
        let source = Fixtures.path("h5py/paper-tiny.h5")
        let package = directory.file("paper.bioimageio.zip")
        let written = try runUNetCkpt([
            "convert", source, package, "--author", "Jane Doe; affiliation=Lab", "--license", "MIT",
            "--cite", "A paper; doi=10.1000/1", "--name", "Paper tiny", "--opset", "13",
        ])
        #expect(written.status == 0, "\(written.standardError)")
        #expect(written.standardOutput.contains("(bioimageio)"))

        let inspect = try runUNetCkpt(["inspect", package])
        #expect(inspect.status == 0, "\(inspect.standardError)")
        #expect(inspect.standardOutput.contains("format: bioimageio"))
        let verify = try runUNetCkpt(["verify", package])
        #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
        #expect(verify.standardOutput.contains("OK (BioImage Model Zoo package"))
        let json = try runUNetCkpt(["verify", package, "--json"])
        #expect(json.status == 0 && json.standardOutput.contains("\"valid\" : true"))
        let diff = try runUNetCkpt(["diff", package, source])
        #expect(diff.status == 0, "\(diff.standardOutput)")
        #expect(try runUNetCkpt(["draw", package, directory.file("u.svg")]).status == 0)
        let input = directory.file("input.npy")
        let zoo = Fixtures.path("bioimageio/monai-unet-2d.bioimageio.zip")
        // A raw network input for predict: any array of a valid size.
        try Data(numpyFloat32(shape: [1, 1, 188, 188])).write(to: URL(fileURLWithPath: input))
        let predicted = try runUNetCkpt(["predict", package, "--input", input, "--output", directory.file("o.npy")])
        #expect(predicted.status == 0, "\(predicted.standardError)")
        let back = directory.file("back.h5")
        #expect(try runUNetCkpt(["convert", package, back]).status == 0)
        // The same tensors and architecture; the metadata gains the package's description (metadata.bioimageio).
        let backDiff = try runUNetCkpt(["diff", back, source, "--json"])
        #expect(backDiff.standardOutput.contains("\"values_equal\" : true"), "\(backDiff.standardOutput)")
        #expect(backDiff.standardOutput.contains("bioimageio.license"))
        // A zoo package (pytorch_state_dict) converts to any format, a package again included.
        #expect(try runUNetCkpt(["convert", zoo, directory.file("zoo.pth")]).status == 0)
        #expect(try runUNetCkpt(["convert", zoo, directory.file("again.bioimageio.zip")]).status == 0)
        #expect(try runUNetCkpt(["verify", directory.file("again.bioimageio.zip")]).status == 0)
    }

    @Test("package options elsewhere, bad names and citations are usage errors (exit 64)")
    func usage() throws {
        let directory = try TemporaryDirectory()
        let source = Fixtures.path("h5py/paper-tiny.h5")
        for arguments in [
            [source, directory.file("x.h5"), "--license", "MIT"],
            [source, directory.file("x.bioimageio.zip"), "--cite", "no reference"],
            [source, directory.file("x.bioimageio.zip"), "--author", "Jane; phone=1"],
            [source, directory.file("x.bioimageio.zip"), "--layout", "milesial"],
            [source, directory.file("x.bioimageio.zip"), "--compress"],
        ] {
            let result = try runUNetCkpt(["convert"] + arguments)
            #expect(result.status == 64, "\(arguments): \(result.standardError)")
        }
        let named = try runUNetCkpt(["convert", source, directory.file("x.bioimageio.zip"), "--name", "a/b"])
        #expect(named.status == 2, "\(named.standardError)")
        #expect(try directory.contents().isEmpty)
    }

    @Test("a package with only ONNX weights is exit 2; a damaged one fails verify (exit 1)")
    func refused() throws {
        let onnx = try runUNetCkpt(["inspect", Fixtures.path("bioimageio/onnx-only.bioimageio.zip")])
        #expect(onnx.status == 2)
        #expect(onnx.standardError.contains("pytorch_state_dict and keras_hdf5"))
        let directory = try TemporaryDirectory()
        let package = directory.file("p.bioimageio.zip")
        #expect(try runUNetCkpt(["convert", Fixtures.path("h5py/paper-tiny.h5"), package]).status == 0)
        let damaged = directory.file("damaged.bioimageio.zip")
        // The last stored entry's data (the attached checkpoint) lies before the central directory.
        let size = try Data(contentsOf: URL(fileURLWithPath: package)).count
        try copyFlippingByte(from: package, to: damaged, at: size - 2_000)
        let verify = try runUNetCkpt(["verify", damaged])
        #expect(verify.status == 1, "\(verify.standardOutput)\(verify.standardError)")
    }
}

/// A `.npy` file of zeros (float32, C order).
private func numpyFloat32(shape: [Int]) -> [UInt8] {
    var header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    let length = UInt16(header.utf8.count)
    return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8)
        + [UInt8](repeating: 0, count: shape.reduce(1, *) * 4)
}
