import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetFormats

/// What the DynUNet and AttentionUnet layouts assume for a bare state dict, and what they refuse.
extension LibraryLayoutAssumptionTests {
    /// The network `file` reads to with these `hyper_parameters`, which must say everything.
    func readsWithoutAssumptions(_ file: String, hyper: JSONValue) throws {
        var notes: [String] = []
        let plan = try plan(file, entries: ["hyper_parameters": hyper], notes: &notes)
        #expect(!notes.contains { $0.hasPrefix("assumption:") })
        let expected = try CheckpointFile(path: Fixtures.path("schema2/\(file.dropLast(4)).h5")).read()
        var architecture = try #require(plan.architecture)
        architecture.name = expected.architecture.name
        #expect(architecture == expected.architecture, "\(architecture.differences(from: expected.architecture))")
    }

    @Test("a bare DynUNet says it took the strides from the transposed convs; hyper_parameters say them instead")
    func dynUNetAssumptions() throws {
        var notes: [String] = []
        _ = try plan("monai-dynunet-3d.pth", notes: &notes)
        for text in [
            MonaiDynUNetLayout.assumedStrides, MonaiDynUNetLayout.assumedAffineNorm,
            MonaiDynUNetLayout.assumedActivation, MonaiDynUNetLayout.assumedDropout,
        ] {
            #expect(notes.contains("assumption: \(text)"))
        }
        #expect(notes.contains { $0.contains("second copies") })
        let strides: [[Int]] = [[1, 1, 1], [2, 2, 2], [1, 2, 2], [2, 2, 1]]
        try readsWithoutAssumptions(
            "monai-dynunet-3d.pth",
            hyper: .object([
                "net": .object([
                    "spatial_dims": .number(3), "in_channels": .number(1), "out_channels": .number(2),
                    "kernel_size": .array([[3, 3, 3], [3, 3, 3], [1, 3, 3], [3, 3, 3]].map { JSONValue($0) }),
                    "strides": .array(strides.map { JSONValue($0) }),
                    "upsample_kernel_size": .array([[2, 2, 2], [1, 2, 2], [2, 2, 1]].map { JSONValue($0) }),
                    "filters": JSONValue([4, 8, 16, 16]), "res_block": .bool(true), "deep_supervision": .bool(true),
                    "deep_supr_num": .number(2),
                ])
            ]))
    }

    @Test("a DynUNet whose keys end mid-stage is refused, naming the missing conv")
    func dynUNetTruncated() {
        let message = refusal("monai-dynunet-3d.pth") { source in
            source.tensors.removeAll { $0.key.hasPrefix("downsamples.1.conv2.") }
        }
        #expect(message.contains("downsamples.1.conv2.conv.weight") && message.contains("mid-stage"))
        let prelu = refusal("monai-dynunet-3d.pth") { source in
            source.tensors.append(("input_block.lrelu.weight", Tensor(shape: [1], values: [0.25])))
        }
        #expect(prelu.contains("PReLU"))
    }

    @Test("a bare AttentionUnet says it assumed strides 2; hyper_parameters say them instead")
    func attentionUnetAssumptions() throws {
        var notes: [String] = []
        _ = try plan("monai-attention-unet-2d.pth", notes: &notes)
        #expect(notes.contains("assumption: \(MonaiAttentionUnetLayout.assumedStrides)"))
        #expect(notes.contains("assumption: \(MonaiAttentionUnetLayout.assumedDropout)"))
        try readsWithoutAssumptions(
            "monai-attention-unet-2d.pth",
            hyper: .object([
                "spatial_dims": .number(2), "in_channels": .number(1), "out_channels": .number(2),
                "channels": JSONValue([4, 8, 16]), "strides": JSONValue([2, 2]), "dropout": .number(0),
            ]))
    }

    @Test("an AttentionUnet whose keys end mid-level is refused, naming where")
    func attentionUnetTruncated() {
        let message = refusal("monai-attention-unet-2d.pth") { source in
            source.tensors.removeAll { $0.key.hasPrefix("model.1.submodule.1.submodule.") }
        }
        #expect(message.contains("model.1.submodule.1.submodule") && message.contains("mid-level"))
    }
}
