import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetInference

/// `convert --expect INPUT.npy OUTPUT.npy`: a conversion proves it computes the user's framework
/// output, or writes nothing.
@Suite("Command line: convert --expect")
struct ExpectTests {
    let source = Fixtures.path("pytorch/milesial-tiny.pth")
    let input = Fixtures.path("pytorch/milesial-tiny.probe-input.npy")
    let output = Fixtures.path("pytorch/milesial-tiny.probe-output.npy")

    @Test("PyTorch's own output is reproduced: the file is written with the pair as its probe")
    func matching() throws {
        let directory = try TemporaryDirectory()
        let target = directory.file("model.h5")
        let result = try runUNetCkpt(["convert", source, target, "--expect", input, output])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("the converted network reproduces"))
        let file = try CheckpointFile(path: target)
        let probe = try #require(try file.readProbe())
        #expect(probe.input.floatValues() == (try NumpyArray(contentsOf: input)).values)
        #expect(probe.output.floatValues() == (try NumpyArray(contentsOf: output)).values)
        #expect(try runUNetCkpt(["verify", target]).status == 0)
    }

    @Test("another network's output fails with exit 1, both differences, and no file")
    func mismatching() throws {
        let directory = try TemporaryDirectory()
        // The same framework output with one value moved by a tenth of the output's range.
        var expected = try NumpyArray(contentsOf: output)
        let range = (expected.values.max() ?? 0) - (expected.values.min() ?? 0)
        expected.values[7] += range / 10
        let wrong = directory.file("wrong.npy")
        try expected.encoded().write(to: URL(fileURLWithPath: wrong))
        let target = directory.file("model.h5")
        let result = try runUNetCkpt(["convert", source, target, "--expect", input, wrong])
        #expect(result.status == 1)
        #expect(result.standardError.contains("does not compute"))
        #expect(result.standardError.contains("largest absolute difference"))
        #expect(result.standardError.contains("of the expected output's range"))
        #expect(try directory.contents() == ["wrong.npy"], "nothing written")
    }

    @Test("an expected output of another shape, or one file only, is refused")
    func badArguments() throws {
        let directory = try TemporaryDirectory()
        let target = directory.file("model.h5")
        let shape = try runUNetCkpt(["convert", source, target, "--expect", input, input])
        #expect(shape.status == 2)
        #expect(shape.standardError.contains("the expected output is"))
        let single = try runUNetCkpt(["convert", source, target, "--expect", input])
        #expect(single.status == 64)
        #expect(try directory.contents().isEmpty)
    }
}
