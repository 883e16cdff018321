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

    /// The layout each library's files are read in.
    static let layouts = ["dynamic-network-architectures": "nnunet"]

    static let indexPath = Fixtures.path("libraries/index.json")
    static let index: [Index.Entry] =
        (try? JSONDecoder().decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: indexPath))))?.files ?? []
    static let readable = index.filter { layouts[$0.library] != nil && $0.sameAs != nil }

    @Test("the index lists every library's files")
    func indexIsPresent() throws {
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: Self.indexPath)))
        #expect(index.files.count >= 12)
        #expect(Self.readable.count >= 4)
    }

    @Test("the network and tensors are the library module's", arguments: readable)
    func sameNetwork(_ entry: Index.Entry) throws {
        let imported = try CheckpointImporter.read(Fixtures.path("libraries/\(entry.file)"))
        let expected = try CheckpointFile(path: Fixtures.path(try #require(entry.sameAs))).read()
        #expect(imported.layout == Self.layouts[entry.library])
        var architecture = imported.checkpoint.architecture
        architecture.name = expected.architecture.name
        #expect(architecture == expected.architecture, "\(architecture.differences(from: expected.architecture))")
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
        "written back in the library's layout, the file holds the library's own keys and tensors", arguments: readable)
    func exportsBack(_ entry: Index.Entry) throws {
        let path = Fixtures.path("libraries/\(entry.file)")
        let imported = try CheckpointImporter.read(path)
        let directory = try TemporaryDirectory()
        let output = directory.file("export.pth")
        try CheckpointExporter.write(imported.checkpoint, to: output, format: .pytorch)
        let written = try PyTorchReader.read(output)
        let (weights, _) = try ModelFolder.resolve(path)
        let original =
            CheckpointFormat.safetensors == (try CheckpointFormat.detect(weights))
            ? try Safetensors.read(weights) : try PyTorchReader.read(weights)
        let originalTensors = Dictionary(original.tensors, uniquingKeysWith: { first, _ in first })
        #expect(Set(written.tensors.map(\.key)) == Set(originalTensors.keys))
        #expect(Set(written.integers.map(\.key)) == Set(original.integers.map(\.key)))
        for (key, tensor) in written.tensors {
            #expect(tensor.floatValues() == originalTensors[key]?.floatValues(), "\(key)")
        }
        let again = try CheckpointImporter.read(output)
        #expect(again.layout == imported.layout)
        #expect(again.checkpoint.architecture == imported.checkpoint.architecture)
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
