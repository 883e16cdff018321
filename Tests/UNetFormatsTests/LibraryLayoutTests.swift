import Foundation
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetFormats

/// The files the libraries write (fixtures/generate_libraries.py: state dicts, nnU-Net results
/// folders, smp save_pretrained folders) read with nothing typed: the layout, the library's
/// arguments and the whole network are found, and the network and tensors equal those of the
/// schema 2.0 checkpoint of the same module (fixtures/schema2), whose probe is the library's own
/// output (SchemaTwoProbeTests runs it).
@Suite("Library layouts")
struct LibraryLayoutTests {
    struct Index: Decodable {
        struct Entry: Decodable, CustomTestStringConvertible, Sendable {
            let file: String
            let kind: String
            /// The schema 2.0 checkpoint of the same network and weights (none for files no layout knows).
            let sameAs: String?
            let library: String
            let className: String
            var testDescription: String { file }
            enum CodingKeys: String, CodingKey {
                case file, kind, library
                case sameAs = "same_as", className = "class"
            }
        }
        let files: [Entry]
    }

    /// The layout each library class's files are read in.
    static let layouts = [
        "dynamic_network_architectures.architectures.unet.PlainConvUNet": "nnunet",
        "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet": "nnunet",
        "segmentation_models_pytorch.Unet": "smp-unet",
        "monai.networks.nets.UNet": "monai-unet",
        "monai.networks.nets.BasicUNet": "monai-basicunet",
        "monai.networks.nets.DynUNet": "monai-dynunet",
        "monai.networks.nets.AttentionUnet": "monai-attention-unet",
    ]

    static let indexPath = Fixtures.path("libraries/index.json")
    static var readable: [Index.Entry] {
        get throws {
            try Fixtures.manifest("libraries/index.json", as: Index.self).files.filter {
                layouts[$0.className] != nil && $0.sameAs != nil
            }
        }
    }

    @Test("the index lists every library's files")
    func indexIsPresent() throws {
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: Self.indexPath)))
        #expect(index.files.count >= 12)
        #expect(try Self.readable.count >= 4)
    }

    @Test("the network and tensors are the library module's", arguments: try readable)
    func sameNetwork(_ entry: Index.Entry) throws {
        let imported = try CheckpointImporter.read(Fixtures.path("libraries/\(entry.file)"))
        let expected = try CheckpointFile(path: Fixtures.path(try #require(entry.sameAs))).read()
        #expect(imported.layout == Self.layouts[entry.className])
        var architecture = Self.withoutDropoutRates(imported.checkpoint.architecture)
        let expectedArchitecture = Self.withoutDropoutRates(expected.architecture)
        architecture.name = expectedArchitecture.name
        #expect(architecture == expectedArchitecture, "\(architecture.differences(from: expectedArchitecture))")
        #expect(imported.checkpoint.tensors.count == expected.tensors.count)
        for (key, tensor) in expected.tensors {
            #expect(imported.checkpoint.tensors[key]?.floatValues() == tensor.floatValues(), "\(key)")
        }
        let source = try #require(imported.checkpoint.metadata.source)
        #expect(source.library == entry.library)
        #expect(source.className == entry.className)
        #expect(source.arguments != nil)
    }

    @Test(
        "written back in the library's layout, the file holds the library's own keys and tensors",
        arguments: try readable)
    func exportsBack(_ entry: Index.Entry) throws {
        let path = Fixtures.path("libraries/\(entry.file)")
        let imported = try CheckpointImporter.read(path)
        let directory = try TemporaryDirectory()
        // A save_pretrained folder is written as one (config.json beside model.safetensors).
        let pretrained = entry.kind == "smp_pretrained"
        let output = directory.file(pretrained ? "model.safetensors" : "export.pth")
        try CheckpointExporter.write(imported.checkpoint, to: output, format: pretrained ? .safetensors : .pytorch)
        let written = pretrained ? try Safetensors.read(output) : try PyTorchReader.read(output)
        let weights = try ModelFolder.weightsFile(path)
        let original =
            CheckpointFormat.safetensors == (try CheckpointFormat.detect(weights))
            ? try Safetensors.read(weights) : try PyTorchReader.read(weights)
        let originalTensors = Dictionary(original.tensors, uniquingKeysWith: { first, _ in first })
        // Tensors the library builds but never runs (smp's unused ResNet stages, removed from the
        // fixtures) are written as zeros, so that the library's strict loading finds every key.
        let notRun =
            try #require(imported.checkpoint.metadata.source?.arguments).flatMap { arguments in
                try? libraryLayouts.first { $0.name == imported.layout }?.reading(arguments, file: nil).unused
            } ?? []
        let zeros = Set(notRun.map(\.key))
        #expect(Set(written.tensors.map(\.key)) == Set(originalTensors.keys).union(zeros))
        let counters = Set(
            zeros.filter { $0.hasSuffix(".running_var") }.map {
                String($0.dropLast("running_var".count)) + "num_batches_tracked"
            })
        #expect(Set(written.integers.map(\.key)) == Set(original.integers.map(\.key)).union(counters))
        for (key, tensor) in written.tensors {
            if zeros.contains(key) {
                #expect(tensor.floatValues().allSatisfy { $0 == 0 }, "\(key)")
            } else {
                #expect(tensor.floatValues() == originalTensors[key]?.floatValues(), "\(key)")
            }
        }
        let again = try CheckpointImporter.read(pretrained ? directory.path : output)
        #expect(again.layout == imported.layout)
        #expect(again.checkpoint.architecture == imported.checkpoint.architecture)
    }

    /// The network with every dropout rate 0: a state dict does not hold the rate (the layouts
    /// say what they assumed), and dropout does nothing at inference.
    static func withoutDropoutRates(_ architecture: UNetArchitecture) -> UNetArchitecture {
        func clear(_ layers: [Layer]) -> [Layer] {
            layers.map { layer in
                switch layer {
                case .dropout: .dropout(.init(rate: 0))
                case .residual(var residual):
                    {
                        residual.body = clear(residual.body)
                        residual.shortcut = clear(residual.shortcut)
                        residual.after = clear(residual.after)
                        return .residual(residual)
                    }()
                default: layer
                }
            }
        }
        var result = architecture
        for index in result.encoder.indices { result.encoder[index].layers = clear(result.encoder[index].layers) }
        for index in result.decoder.indices {
            result.decoder[index].up = clear(result.decoder[index].up)
            result.decoder[index].layers = clear(result.decoder[index].layers)
        }
        for index in result.heads.indices { result.heads[index].layers = clear(result.heads[index].layers) }
        return result
    }

    @Test("a bare nnU-Net state dict says what it assumed; its plans say it instead")
    func nnunetAssumptions() throws {
        let bare = try CheckpointImporter.read(Fixtures.path("libraries/nnunet-plainconv-2d.pth"))
        #expect(bare.notes.contains { $0.hasPrefix("assumption:") && $0.contains("LeakyReLU slope 0.01") })
        #expect(bare.checkpoint.metadata.source?.assumptions?.count == NNUNetLayout.bareAssumptions.count)
        #expect(bare.notes.contains { $0.contains("second copies") })
    }

    /// A results folder around the 2-D PlainConvUNet's weights, with `plans` as its plans.json.
    func resultsFolder(plans: String, configuration: String, in directory: TemporaryDirectory) throws -> String {
        let folder = URL(fileURLWithPath: directory.file("Dataset001_X/nnUNetTrainer__nnUNetPlans__\(configuration)"))
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("fold_0"), withIntermediateDirectories: true)
        try Data(plans.utf8).write(to: folder.appendingPathComponent("plans.json"))
        let dataset =
            #"{"channel_names": {"0": "MRI"}, "labels": {"background": 0, "tumour": 1}, "file_ending": ".nii.gz"}"#
        try Data(dataset.utf8).write(to: folder.appendingPathComponent("dataset.json"))
        try FileManager.default.copyItem(
            atPath: Fixtures.path("libraries/nnunet-plainconv-2d.pth"),
            toPath: folder.appendingPathComponent("fold_0/checkpoint_final.pth").path)
        return folder.path
    }

    @Test("plans of nnU-Net before 2.4 and inherited configurations build the same network")
    func legacyPlans() throws {
        let expected = try CheckpointFile(path: Fixtures.path("schema2/nnunet-plainconv-2d.h5")).read().architecture
        let legacy =
            #"{"configurations": {"2d": {"UNet_class_name": "PlainConvUNet", "UNet_base_num_features": 4,"#
            + #" "unet_max_num_features": 16, "conv_kernel_sizes": [[3, 3], [3, 3], [3, 3], [3, 3]],"#
            + #" "pool_op_kernel_sizes": [[1, 1], [2, 2], [2, 2], [2, 2]], "n_conv_per_stage_encoder": [2, 2, 2, 2],"#
            + #" "n_conv_per_stage_decoder": [2, 2, 2], "patch_size": [64, 64]},"#
            + #" "2d_bigger": {"inherits_from": "2d", "patch_size": [96, 96]}}}"#
        let directory = try TemporaryDirectory()
        for configuration in ["2d", "2d_bigger"] {
            let folder = try resultsFolder(plans: legacy, configuration: configuration, in: directory)
            let imported = try CheckpointImporter.read(folder)
            var architecture = imported.checkpoint.architecture
            architecture.name = expected.name
            #expect(architecture == expected, "\(architecture.differences(from: expected))")
            #expect(!imported.notes.contains { $0.hasPrefix("assumption:") })
            #expect(imported.checkpoint.metadata.classes == ["background", "tumour"])
            let nnunet = try #require(imported.checkpoint.metadata.additionalFields["nnunet"])
            #expect(nnunet["patch_size"] == JSONValue(configuration == "2d" ? [64, 64] : [96, 96]))
            #expect(nnunet["configuration"] == .string(configuration))
        }
    }

    @Test("a results folder with several folds asks for one; a folder of nothing says what it expected")
    func folders() throws {
        let directory = try TemporaryDirectory()
        let plans = try String(
            contentsOfFile: Fixtures.path(
                "libraries/nnunet/Dataset206_nnunet_plainconv_2d/nnUNetTrainer__nnUNetPlans__2d/plans.json"),
            encoding: .utf8)
        let folder = try resultsFolder(plans: plans, configuration: "2d", in: directory)
        try FileManager.default.createDirectory(atPath: folder + "/fold_1", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: folder + "/fold_0/checkpoint_final.pth", toPath: folder + "/fold_1/checkpoint_final.pth")
        #expect {
            _ = try CheckpointImporter.read(folder)
        } throws: { error in
            let message = (error as? FormatError)?.message ?? ""
            return message.contains("several checkpoints") && message.contains("fold_1/checkpoint_final.pth")
        }
        let fold = try CheckpointImporter.read(folder + "/fold_1")
        #expect(fold.layout == "nnunet")
        #expect(fold.checkpoint.metadata.additionalFields["nnunet"]?["configuration"] == .string("2d"))
        let empty = directory.file("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect {
            _ = try CheckpointImporter.read(empty)
        } throws: { error in
            (error as? FormatError)?.message.contains("neither an nnU-Net results folder") == true
        }
    }

    @Test("an nnU-Net checkpoint written into a results folder reads back whole, plans and dataset.json beside it")
    func nnunetResultsExport() throws {
        let source = Fixtures.path(
            "libraries/nnunet/Dataset208_nnunet_resenc_3d/nnUNetTrainer__nnUNetPlans__3d_fullres")
        let imported = try CheckpointImporter.read(source)
        let directory = try TemporaryDirectory()
        let folder = directory.file("Dataset208/nnUNetTrainer__nnUNetPlans__3d_fullres")
        let output = folder + "/fold_0/checkpoint_final.pth"
        let notes = try CheckpointExporter.write(imported.checkpoint, to: output, format: .pytorch)
        #expect(notes.contains("wrote \(folder)/plans.json"))
        let again = try CheckpointImporter.read(folder)
        #expect(again.checkpoint.architecture == imported.checkpoint.architecture)
        #expect(again.checkpoint.tensors == imported.checkpoint.tensors)
        #expect(
            again.checkpoint.metadata.additionalFields["nnunet"]?["plans"]
                == imported.checkpoint.metadata.additionalFields["nnunet"]?["plans"])
        #expect(again.container.kind == .nnUNet)
        // A plans.json of another network in the way stops the export before anything is written.
        let other = directory.file("Other/nnUNetTrainer__nnUNetPlans__3d_fullres")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try Data(#"{"plans_name": "other"}"#.utf8).write(to: URL(fileURLWithPath: other + "/plans.json"))
        #expect(throws: FormatError.self) {
            try CheckpointExporter.write(
                imported.checkpoint, to: other + "/fold_0/checkpoint_final.pth", format: .pytorch)
        }
        #expect(!FileManager.default.fileExists(atPath: other + "/fold_0/checkpoint_final.pth"))
    }

    @Test("3-D weights under a 2-D layout's keys are named as such, not as missing levels")
    func volumeInPlaneLayout() throws {
        let source = try PyTorchReader.read(Fixtures.path("pytorch/milesial-tiny.pth"))
        let entries: [(key: String, value: PyTorchWriter.Value)] = source.tensors.map { key, tensor in
            let shape = tensor.shape.count == 4 ? tensor.shape + [tensor.shape[3]] : tensor.shape
            let count = shape.reduce(1, *)
            return (key, .tensor(Tensor(shape: shape, values: [Float](repeating: 0.5, count: count))))
        }
        let directory = try TemporaryDirectory()
        let file = directory.file("milesial-3d.pth")
        try PyTorchWriter.write(entries, to: file)
        #expect {
            _ = try CheckpointImporter.read(file)
        } throws: { error in
            let message = (error as? FormatError)?.message ?? ""
            return message.contains("3-D weights in a milesial layout")
                && message.contains(".double_conv.0.weight is 5-D")
        }
    }

    @Test("two copies of a tensor that differ are refused, naming both")
    func differingCopies() throws {
        var source = try PyTorchReader.read(Fixtures.path("libraries/nnunet-plainconv-2d.pth"))
        let index = try #require(
            source.tensors.firstIndex { $0.key == "decoder.encoder.stages.1.0.convs.0.conv.weight" })
        let original = source.tensors[index].tensor
        var values = original.floatValues()
        values[0] += 1
        source.tensors[index].tensor = Tensor(shape: original.shape, values: values)
        var notes: [String] = []
        #expect {
            _ = try KeyPlan.make(for: &source, mapping: nil, file: "x.pth", notes: &notes)
        } throws: { error in
            let message = (error as? FormatError)?.message ?? ""
            return message.contains("decoder.encoder.stages.1.0.convs.0.conv.weight")
                && message.contains("encoder.stages.1.0.convs.0.conv.weight") && message.contains("differ")
        }
    }
}

/// What the library layouts assume when a file does not say it, and what they refuse.
@Suite("Library layout assumptions and refusals")
struct LibraryLayoutAssumptionTests {
    /// The key plan of a library file, after `change` edits its tensors.
    func plan(
        _ file: String, entries: [String: JSONValue] = [:], notes: inout [String],
        _ change: (inout SourceTensors) -> Void = { _ in }
    ) throws -> KeyPlan {
        var source = try PyTorchReader.read(Fixtures.path("libraries/\(file)"))
        change(&source)
        return try KeyPlan.make(for: &source, mapping: nil, file: file, notes: &notes, entries: entries)
    }

    func refusal(_ file: String, _ change: (inout SourceTensors) -> Void) -> String {
        var notes: [String] = []
        do {
            _ = try plan(file, notes: &notes, change)
            return ""
        } catch {
            return (error as? FormatError)?.message ?? "\(error)"
        }
    }

    @Test("a bare smp state dict assumes smp's default activation; config.json says it instead")
    func smpAssumptions() throws {
        let bare = try CheckpointImporter.read(Fixtures.path("libraries/smp-unet-resnet18.pth"))
        #expect(bare.notes.contains("assumption: \(SMPUNetLayout.assumedActivation)"))
        let folder = try CheckpointImporter.read(Fixtures.path("libraries/smp-unet-resnet50"))
        #expect(!folder.notes.contains { $0.hasPrefix("assumption:") })
        #expect(folder.checkpoint.architecture.heads.first?.layers.last == .activation(.init(.sigmoid)))
    }

    @Test("smp's ResNet stages past the depth are left out, with a note")
    func smpUnusedStages() throws {
        var notes: [String] = []
        let plan = try plan("smp-unet-resnet18.pth", notes: &notes) { source in
            for block in 0..<2 {
                let zeros = Array(repeating: Float(0), count: 256 * 128 * 9)
                source.tensors.append(
                    ("encoder.layer3.\(block).conv1.weight", Tensor(shape: [256, 128, 3, 3], values: zeros)))
            }
        }
        #expect(plan.layout == SMPUNetLayout.name)
        #expect(notes.contains { $0.contains("left out 2 tensors") })
    }

    @Test("smp with scse attention is refused, naming it")
    func smpAttention() {
        let message = refusal("smp-unet-resnet18.pth") { source in
            source.tensors.append(
                ("decoder.blocks.0.attention1.attention.sSE.0.weight", Tensor(shape: [1], values: [0])))
        }
        #expect(message.contains("scse"))
    }

    @Test("a bare MONAI UNet says it assumed strides 2; hyper_parameters say them instead")
    func monaiUNetAssumptions() throws {
        var notes: [String] = []
        _ = try plan("monai-unet-3d-batch.pth", notes: &notes)
        #expect(notes.contains("assumption: \(MonaiUNetLayout.assumedStrides)"))
        #expect(notes.contains("assumption: \(MonaiUNetLayout.assumedReLU)"))

        let hyper: JSONValue = .object([
            "net": .object([
                "spatial_dims": .number(2), "in_channels": .number(1), "out_channels": .number(2),
                "channels": JSONValue([4, 8, 16]), "strides": JSONValue([2, 2]), "num_res_units": .number(2),
                "dropout": .number(0.1),
            ])
        ])
        notes = []
        let plan = try plan("monai-unet-2d-residual.pth", entries: ["hyper_parameters": hyper], notes: &notes)
        #expect(!notes.contains { $0.hasPrefix("assumption:") })
        let expected = try CheckpointFile(path: Fixtures.path("schema2/monai-unet-2d-residual.h5")).read()
        var architecture = try #require(plan.architecture)
        architecture.name = expected.architecture.name
        #expect(architecture == expected.architecture)
    }

    @Test("a MONAI UNet whose keys end mid-level is refused, naming the missing layer")
    func monaiUNetTruncated() {
        let message = refusal("monai-unet-2d-residual.pth") { source in
            source.tensors.removeAll { $0.key.hasPrefix("model.1.submodule.2.") }
        }
        #expect(message.contains("model.1.submodule.2.0.conv.weight") && message.contains("mid-level"))
    }
}
