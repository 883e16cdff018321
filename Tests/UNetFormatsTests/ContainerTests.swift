import Foundation
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetFormats

/// `fixtures/containers/index.json` (fixtures/generate_containers.py).
struct ContainerIndex: Decodable {
    struct Container: Decodable, Sendable, CustomStringConvertible {
        let file: String
        let kind: String
        let weights: String
        let reference: String
        let also: String?
        let prefix: String?
        let key: String?
        let entries: [String]?
        let skipped: [String]?
        let legacy: Bool?
        var description: String { file }
    }
    struct Hostile: Decodable, Sendable, CustomStringConvertible {
        let file: String
        let mustMention: String
        let marker: String?
        var description: String { file }
        enum CodingKeys: String, CodingKey {
            case file, marker
            case mustMention = "must_mention"
        }
    }
    let containers: [Container]
    let hostile: [Hostile]

    static var loaded: ContainerIndex { get throws { try Fixtures.manifest("containers/index.json") } }
}

@Suite("Training containers")
struct ContainerTests {
    static var containers: [ContainerIndex.Container] { get throws { try ContainerIndex.loaded.containers } }
    static var hostile: [ContainerIndex.Hostile] { get throws { try ContainerIndex.loaded.hostile } }

    func path(_ name: String) -> String { Fixtures.path("containers/" + name) }

    func kindName(_ kind: ContainerInfo.Kind) -> String {
        switch kind {
        case .stateDict: "state-dict"
        case .trainingDict: "training-dict"
        case .lightning: "lightning"
        case .nnUNet: "nnunet"
        case .torchScript: "torchscript"
        case .wholeModule: "whole-module"
        }
    }

    @Test("the index lists every container and hostile file")
    func index() throws {
        #expect(try Self.containers.count >= 10)
        #expect(try Self.hostile.count >= 5)
    }

    @Test(
        "each container gives the tensors of its reference state dict, and says what it was", arguments: try containers)
    func container(_ fixture: ContainerIndex.Container) throws {
        let imported = try CheckpointImporter.read(path(fixture.file))
        let reference = try CheckpointImporter.read(path(fixture.reference))
        #expect(imported.layout == "milesial")
        #expect(imported.checkpoint.tensors == reference.checkpoint.tensors)
        #expect(imported.checkpoint.normCounters == reference.checkpoint.normCounters)
        #expect(kindName(imported.container.kind) == fixture.kind)
        #expect(imported.container.weights.rawValue == fixture.weights)
        #expect(imported.container.otherWeights?.rawValue == fixture.also)
        #expect(imported.container.legacyFormat == (fixture.legacy ?? false))
        // The checkpoint records where its weights were taken from.
        #expect(imported.checkpoint.metadata.source?.container == imported.container.summary)
        if let prefix = fixture.prefix { #expect(imported.container.removedPrefix == prefix) }
        if let key = fixture.key, case .trainingDict(let found) = imported.container.kind { #expect(found == key) }
        for entry in fixture.entries ?? [] { #expect(imported.containerEntries[entry] != nil, "\(entry)") }
        for entry in fixture.skipped ?? [] {
            #expect(imported.notes.contains { $0.hasPrefix("skipped \(entry): ") }, "\(entry): \(imported.notes)")
        }
        if fixture.also != nil {
            #expect(imported.notes.contains { $0.contains("took the raw weights") && $0.contains("(--weights ema)") })
        }
    }

    @Test(
        "--weights picks the other copy, and asking for a copy the file lacks fails naming it",
        arguments: try containers)
    func weightsChoice(_ fixture: ContainerIndex.Container) throws {
        let other: WeightsChoice = fixture.weights == "raw" ? .ema : .raw
        if let also = fixture.also {
            let imported = try CheckpointImporter.read(path(fixture.file), weights: WeightsChoice(rawValue: also))
            let reference = try CheckpointImporter.read(path("reference-\(also).pth"))
            #expect(imported.checkpoint.tensors == reference.checkpoint.tensors)
            #expect(imported.container.weights.rawValue == also)
            #expect(imported.notes.contains { $0.contains("took the EMA weights") })
        } else {
            #expect {
                _ = try CheckpointImporter.read(path(fixture.file), weights: other)
            } throws: { error in
                (error as? FormatError)?.message.hasPrefix("--weights \(other.rawValue): the file holds") == true
            }
        }
    }

    @Test("the raw and EMA references differ, so taking the wrong copy is caught")
    func referencesDiffer() throws {
        let raw = try CheckpointImporter.read(path("reference-raw.pth")).checkpoint.tensors
        let ema = try CheckpointImporter.read(path("reference-ema.pth")).checkpoint.tensors
        #expect(raw.keys.sorted() == ema.keys.sorted())
        #expect(raw.allSatisfy { ema[$0.key] != $0.value })
    }

    @Test("a Lightning checkpoint's hyper_parameters become metadata; the note names the version and prefix")
    func lightning() throws {
        let imported = try CheckpointImporter.read(path("lightning.ckpt"))
        guard case .lightning(let version) = imported.container.kind else {
            Issue.record("not read as Lightning: \(imported.container.kind)")
            return
        }
        #expect(version == "2.6.6")
        #expect(
            imported.notes.first
                == "read the Lightning checkpoint's state_dict (PyTorch Lightning 2.6.6), removed the prefix \"model.\" "
                + "from every key")
        #expect(imported.notes.contains { $0.hasPrefix("kept ") && $0.contains("hyper_parameters") })
        let text = try #require(imported.checkpoint.metadata.user?["hyper_parameters"])
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(decoded == .object(["learning_rate": .number(0.01), "n_classes": .number(2), "depth": .number(2)]))
        #expect(imported.checkpoint.metadata.user?["global_step"] == "1")
    }

    @Test("nnU-Net's init_args (plans, configuration, device) and numpy logging come out as JSON")
    func nnUNet() throws {
        let imported = try CheckpointImporter.read(path("nnunet-checkpoint_final.pth"))
        let entries = imported.containerEntries
        guard case .object(let initArgs)? = entries["init_args"], case .object(let plans)? = initArgs["plans"],
            case .object(let configurations)? = plans["configurations"], case .object(let logging)? = entries["logging"]
        else {
            Issue.record("init_args.plans.configurations or logging missing: \(entries.keys.sorted())")
            return
        }
        #expect(initArgs["configuration"] == .string("2d"))
        #expect(initArgs["fold"] == .number(0))
        #expect(initArgs["device"] == .string("cuda:0"))
        #expect(configurations["2d"] != nil)
        #expect(logging["mean_fg_dice"] == .array([.number(0.5), .number(0.625)]))  // numpy float64
        #expect(logging["train_losses"] == .array([.number(-0.5), .number(-0.75)]))  // float32
        #expect(logging["val_losses"] == .array([.number(-0.5), .number(-0.625)]))  // float16
        #expect(logging["dice_per_class_or_region"] == .array([.array([.number(0.25)]), .array([.number(0.75)])]))
        #expect(logging["best_epoch"] == .number(1))  // int64
        #expect(logging["finished"] == .bool(true))  // bool_
        #expect(logging["counts"] == .array([.number(3), .number(4)]))  // a small int32 array
        #expect(logging["foreground_map"] == nil)
        #expect(imported.notes.contains { $0.hasPrefix("skipped logging.foreground_map: a numpy u1 array of 5000") })
        #expect(entries["_best_ema"] == .number(0.5125))
        #expect(entries["inference_allowed_mirroring_axes"] == .array([.number(0), .number(1)]))
        #expect(entries["trainer_name"] == .string("nnUNetTrainer"))
        #expect(imported.notes.contains("skipped optimizer_state: optimizer state (not weights)"))
    }

    @Test("hostile containers are refused naming what they call, and nothing runs", arguments: try hostile)
    func hostileFile(_ fixture: ContainerIndex.Hostile) throws {
        if let marker = fixture.marker { try? FileManager.default.removeItem(atPath: marker) }
        #expect {
            _ = try CheckpointImporter.read(path(fixture.file))
        } throws: { error in
            guard let error = error as? FormatError else { return false }
            return error.message.contains(fixture.mustMention)
                && (fixture.marker == nil || error.message.contains("nothing from the file was executed"))
        }
        if let marker = fixture.marker { #expect(!FileManager.default.fileExists(atPath: marker)) }
    }

    @Test("safetensors keys get the same prefix removal and EMA choice")
    func safetensorsPrefixes() throws {
        let directory = try TemporaryDirectory()
        let header =
            #"{"module.w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
            + #""ema.module.w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        let bytes =
            withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian, Array.init) + Array(header.utf8)
            + [Float(1), 2].withUnsafeBytes { Array($0) }
        let file = directory.file("t.safetensors")
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        var source = try Safetensors.read(file)
        try source.selectWeights(nil, file: file)
        #expect(source.tensors.map(\.key) == ["w"])
        #expect(source.tensor("w") == Tensor(shape: [1], values: [1]))
        #expect(source.container.otherWeights == .ema)
        var ema = try Safetensors.read(file)
        try ema.selectWeights(.ema, file: file)
        #expect(ema.tensor("w") == Tensor(shape: [1], values: [2]))
        #expect(ema.container.removedPrefix == "ema.module.")
    }

    @Test("wrapper prefixes: repeated module., _orig_mod., a Lightning attribute, EMA keys beside raw ones")
    func keySelection() throws {
        let compiled = try WeightKeys.select(
            ["_orig_mod.module.a.weight", "_orig_mod.module.b.bias"], choice: nil, stripAttribute: false, file: "f")
        #expect(compiled.names["_orig_mod.module.a.weight"] == "a.weight")
        #expect(compiled.removedPrefix == "_orig_mod.module.")
        let lightning = try WeightKeys.select(
            ["net.a.weight", "net.b.weight", "model_ema.module.a.weight", "model_ema.module.b.weight"], choice: .ema,
            stripAttribute: true, file: "f")
        #expect(lightning.names == ["model_ema.module.a.weight": "a.weight", "model_ema.module.b.weight": "b.weight"])
        // Different tensors under `ema.` are not a copy of the weights: nothing is split.
        let unrelated = try WeightKeys.select(["ema.x", "a.weight"], choice: nil, stripAttribute: false, file: "f")
        #expect(unrelated.other == nil && unrelated.names.count == 2)
        // A first component is only removed in Lightning checkpoints.
        let plain = try WeightKeys.select(
            ["model.0.weight", "model.1.weight"], choice: nil, stripAttribute: false, file: "f")
        #expect(plain.removedPrefix == nil)
    }

    @Test("convert --weights ema from the command line takes the EMA copy and says so")
    func commandLine() throws {
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt(["convert", "--weights", "ema", path("ema-entry.pth"), directory.file("e.h5")])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("took the EMA weights (the \"ema\" entry)"))
        let converted = try CheckpointImporter.read(directory.file("e.h5")).checkpoint
        let reference = try CheckpointImporter.read(path("reference-ema.pth")).checkpoint
        #expect(converted.tensors == reference.tensors)
        let bad = try runUNetCkpt(["convert", "--weights", "average", path("ema-entry.pth"), directory.file("x.h5")])
        #expect(bad.status != 0)
    }
}
