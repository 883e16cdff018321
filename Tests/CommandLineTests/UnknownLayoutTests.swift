import Foundation
import TestSupport
import Testing

/// A file no layout describes still inspects: its tensors under their own keys, grouped by
/// prefix, with the reason no layout matched; and diff compares such files key by key.
@Suite("Files in an unknown layout")
struct UnknownLayoutTests {
    /// A hand-written network's state dict (fixtures/generate_libraries.py): keys no layout knows.
    let handWritten = Fixtures.path("libraries/hand-written-2d.pth")

    @Test("inspect shows the raw tensor table, the groups and why no layout matched, and exits 0")
    func rawTable() throws {
        let result = try runUNetCkpt(["inspect", handWritten])
        #expect(result.status == 0, "\(result.standardError)")
        let text = result.standardOutput
        for expected in [
            "format: pytorch, not read as a network", "follow no layout unet-ckpt knows", "Key groups", "Tensors",
            "describe them in a mapping file",
        ] {
            #expect(text.contains(expected), "missing \(expected)")
        }
        #expect(result.standardError.contains("only its tensors are shown"))

        let json = try runUNetCkpt(["inspect", "--json", handWritten])
        #expect(json.status == 0)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let tensors = try #require(document["tensors"] as? [[String: Any]])
        let groups = try #require(document["groups"] as? [[String: Any]])
        let total = tensors.compactMap { $0["parameter_count"] as? Int }.reduce(0, +)
        #expect(tensors.count > 10)
        #expect(document["parameter_count"] as? Int == total)
        #expect(groups.compactMap { $0["tensor_count"] as? Int }.reduce(0, +) == tensors.count)
        // Every key of the table is shown in the text too, with its shape.
        for tensor in tensors.prefix(5) {
            let key = try #require(tensor["key"] as? String)
            #expect(text.contains(key))
        }
    }

    @Test("3-D weights in no known layout are not sent to a mapping file")
    func volumeWithoutLayout() throws {
        let result = try runUNetCkpt(["inspect", Fixtures.path("libraries/unknown-3d.pth")])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("is 5-D), which a mapping file cannot describe"))
        #expect(!result.standardOutput.contains("describe them in a mapping file"))
    }

    @Test("diff compares two files in an unknown layout by their own keys")
    func rawDiff() throws {
        let result = try runUNetCkpt(["diff", handWritten, handWritten])
        #expect(result.status == 0, "\(result.standardError)\(result.standardOutput)")
        let other = try runUNetCkpt(["diff", handWritten, Fixtures.path("libraries/unknown-3d.pth")])
        #expect(other.status == 1, "\(other.standardError)\(other.standardOutput)")
    }

    @Test("predict and inspect say what a library layout assumed; a results folder reads with nothing assumed")
    func assumptionsSaid() throws {
        let directory = try TemporaryDirectory()
        let input = Fixtures.path("pytorch/milesial-tiny-bilinear.probe-input.npy")  // 1×1×32×32
        // The results folder records nnU-Net's patch size, so it slides windows; the same one for both.
        let bare = try runUNetCkpt([
            "predict", Fixtures.path("libraries/nnunet-plainconv-2d.pth"), "--input", input, "--output",
            directory.file("y.npy"), "--window", "16",
        ])
        #expect(bare.status == 0, "\(bare.standardError)")
        #expect(bare.standardError.contains("warning: assumption: LeakyReLU slope 0.01"))
        let folder = try runUNetCkpt([
            "predict", Fixtures.path("libraries/nnunet/Dataset206_nnunet_plainconv_2d/nnUNetTrainer__nnUNetPlans__2d"),
            "--input", input, "--output", directory.file("z.npy"), "--window", "16",
        ])
        #expect(folder.status == 0, "\(folder.standardError)")
        #expect(!folder.standardError.contains("assumption"))
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: directory.file("y.npy")))
                == Data(contentsOf: URL(fileURLWithPath: directory.file("z.npy"))))
    }
}
