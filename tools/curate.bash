# bash completion for curate(1): commands, their options, and the values of
# --format, --view and --store.  Installed as
# share/bash-completion/completions/curate.

_curate()
{
    local cur prev cmd i
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done

    local cmds="import info table export import-labels predictions eval
        embeddings classes cvat check snapshot"
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
        return 0
    fi

    case $prev in
        --store|--coco|--predictions|--names|--npy|--export|--plot|--gt|\
        --pred|--coco-gt|--config)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0 ;;
        --format)
            case $cmd in
                table) COMPREPLY=($(compgen -W "csv jsonl" -- "$cur")) ;;
                export) COMPREPLY=($(compgen -W "coco yolo voc imagenet" \
                                     -- "$cur")) ;;
                import-labels) COMPREPLY=($(compgen -W \
                                    "coco yolo voc cvat cvat-zip" -- "$cur")) ;;
                predictions) COMPREPLY=($(compgen -W "coco yolo" \
                                          -- "$cur")) ;;
            esac
            return 0 ;;
        --view)
            COMPREPLY=($(compgen -W "unique near-duplicates dupes mistakes
                possible-missing possible-spurious" -- "$cur"))
            return 0 ;;
        --list)
            COMPREPLY=($(compgen -W "mistakes missing spurious" -- "$cur"))
            return 0 ;;
        --frame)
            COMPREPLY=($(compgen -W "auto stored viewer" -- "$cur"))
            return 0 ;;
        --zip-format)
            COMPREPLY=($(compgen -W "coco yolo voc cvat" -- "$cur"))
            return 0 ;;
    esac

    local opts
    case $cmd in
        import) opts="--store --coco --clear-labels --field --no-hash
                      --no-features --predictions --names --frame --json
                      --help" ;;
        info) opts="--store --json --help" ;;
        table) opts="--store --format --json --read-only --help" ;;
        export) opts="--store --format --tag --view --field --frame --json
                      --help" ;;
        import-labels) opts="--store --format --field --frame --zip-format
                             --json --help" ;;
        predictions) opts="--store --format --field --coco-gt --names --frame
                           --json --help" ;;
        eval) opts="--store --name --gt --pred --iou --json --plot --list
                    --help" ;;
        embeddings) opts="--store --npy --names --export --clear --json
                          --help" ;;
        classes) opts="--store --help add rename remove" ;;
        check) opts="--store --repair --help" ;;
        snapshot) opts="--store --help" ;;
        cvat)
            local sub=
            for ((i = i + 1; i < COMP_CWORD; i++)); do
                case ${COMP_WORDS[i]} in
                    -*) ;;
                    *) sub=${COMP_WORDS[i]}; break ;;
                esac
            done
            if [[ -z $sub ]]; then
                COMPREPLY=($(compgen -W "push pull undo status labels job
                    issues config --help" -- "$cur"))
                return 0
            fi
            opts="--store --tag --view --run --classes --wait --json --config
                  -o --help" ;;
    esac
    if [[ $cur == -* || -n $opts ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    fi
    [[ $cur == -* ]] || COMPREPLY+=($(compgen -f -- "$cur"))
    return 0
}
complete -F _curate curate
