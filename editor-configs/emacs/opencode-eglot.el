;;; opencode-eglot.el --- opencode-lsp with Eglot -*- lexical-binding: t; -*-

;; Eglot is built into Emacs 29+; on Emacs 28 install it (Debian: apt install elpa-eglot,
;; or M-x package-install RET eglot).  Load this file from your init file:
;;
;;   (load "/path/to/opencode-eglot.el")
;;   (global-set-key (kbd "C-c o") opencode-eglot-command-map)
;;
;; then M-x eglot in a project file.  Every setting: docs/configuration.md.
;;
;; For opencode-lsp only (your other servers keep Eglot's defaults), this file makes the
;; agent's edits arrive without a question (no "Server wants to edit … Proceed?", no "changed
;; on disk"), leaves a buffer unmodified when its text is then its file's, asks permission
;; in a minibuffer that lists every choice (C-g answers later, through `C-c o o'), and opens
;; "Show diff" in a diff-mode buffer (Eglot 1.9 has no window/showDocument).
;;
;; Eglot runs one language server per buffer: in `opencode-eglot-modes' opencode-lsp takes
;; the place of your usual server (pylsp, …).  To keep both, use lsp-mode
;; (opencode-lsp-mode.el), which runs opencode-lsp as an add-on server.

;;; Code:

(require 'cl-lib)
(require 'subr-x)
;; `emacs -Q' skips site-lisp, where Debian's elpa-eglot lives: look there before giving up.
(unless (require 'eglot nil t)
  (require 'package)
  (add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
  (package-activate-all)
  (require 'eglot))

(defgroup opencode-eglot nil
  "Drive an OpenCode agent through opencode-lsp and Eglot."
  :group 'tools
  :prefix "opencode-eglot-")

(defcustom opencode-eglot-program '("opencode-lsp")
  "How to start opencode-lsp: the program and its arguments."
  :type '(repeat string))

(defcustom opencode-eglot-initialization-options nil
  "The bridge's settings, sent as initializationOptions: a plist with camelCase keys.
For example (:model \"anthropic/claude-sonnet-4-5\" :attachUrl nil).  As Eglot
sends it: nil is JSON null, :json-false is false, a vector is a list."
  :type 'plist)

(defcustom opencode-eglot-modes
  '(python-mode python-ts-mode js-mode js-ts-mode typescript-mode typescript-ts-mode
    go-mode go-ts-mode rust-mode rust-ts-mode c-mode c-ts-mode c++-mode c++-ts-mode
    java-mode sh-mode ruby-mode emacs-lisp-mode)
  "Major modes in which `eglot' starts opencode-lsp."
  :type '(repeat symbol))

(defvar opencode-eglot-status nil
  "The last opencode/status notification: a plist (:state :message :sessionID).")

(defvar opencode-eglot-answers nil
  "Every whole answer of this Emacs session, the last one first.")

(defclass opencode-eglot-server (eglot-lsp-server) ()
  "opencode-lsp: the class lets this file change how Eglot treats it, and only it.")

(defun opencode-eglot--contact (&optional _interactive)
  "The `eglot-server-programs' entry: the class, the program, then its settings."
  `(opencode-eglot-server
    ,@opencode-eglot-program
    :initializationOptions
    ,(or opencode-eglot-initialization-options (make-hash-table))))

(add-to-list 'eglot-server-programs
             (cons opencode-eglot-modes #'opencode-eglot--contact))

;;;; Talking to the bridge

(defun opencode-eglot--ours-p (server)
  "Whether SERVER is opencode-lsp (by the serverInfo of its initialize result)."
  (or (cl-typep server 'opencode-eglot-server)
      (equal (plist-get (ignore-errors (eglot--server-info server)) :name) "opencode-lsp")))

(defun opencode-eglot--server ()
  "The opencode-lsp server of this buffer, or an error the user can act on."
  (let ((server (eglot-current-server)))
    (unless (and server (opencode-eglot--ours-p server))
      (user-error "opencode-lsp is not running here: M-x eglot in a project file"))
    server))

(defun opencode-eglot-commands (&optional server)
  "The commands SERVER offers (its executeCommandProvider), as a list of strings."
  (let* ((server (or server (opencode-eglot--server)))
         (provider (plist-get (eglot--capabilities server) :executeCommandProvider)))
    (append (plist-get provider :commands) nil)))

(defun opencode-eglot-execute (command &optional arguments)
  "Run the workspace COMMAND with ARGUMENTS (a vector) and return its result.
The bridge answers at once; the work goes on in the background."
  (let ((server (opencode-eglot--server)))
    (unless (member command (opencode-eglot-commands server))
      (user-error "This opencode-lsp does not offer %s" command))
    (jsonrpc-request server :workspace/executeCommand
                     (append (list :command command)
                             (and arguments (list :arguments arguments))))))

(defun opencode-eglot--region ()
  "The region's whole lines as (:uri :range), or nil without an active region."
  (when (use-region-p)
    (let ((beg (save-excursion (goto-char (region-beginning)) (line-beginning-position)))
          (end (save-excursion (goto-char (region-end))
                               (if (and (bolp) (> (point) (region-beginning)))
                                   (point)
                                 (line-end-position)))))
      (list :uri (plist-get (eglot--TextDocumentIdentifier) :uri)
            :range (list :start (eglot--pos-to-lsp-position beg)
                         :end (eglot--pos-to-lsp-position end))))))

;;;; Commands

(defun opencode-eglot-ask (prompt)
  "Ask OpenCode PROMPT; with an active region, about its lines."
  (interactive
   (list (read-string (if (use-region-p) "OpenCode (about the region): " "OpenCode: "))))
  (when (string-empty-p (string-trim prompt))
    (user-error "Nothing to ask"))
  (let ((region (opencode-eglot--region)))
    (deactivate-mark)
    (opencode-eglot-execute "opencode.ask" (vector (append (list :prompt prompt) region)))
    (message "OpenCode: asked; the answer comes as a message (whole: M-x opencode-eglot-show-answer)")))

(defun opencode-eglot-code-actions (beg end)
  "The OpenCode code actions on the region (else the line) BEG..END: Explain, Review, …,
and on a pending request's diagnostic its quick fixes (Allow once, Allow always, Reject,
Show diff)."
  (interactive (if (use-region-p)
                   (list (region-beginning) (region-end))
                 (list (line-beginning-position) (line-end-position))))
  ;; Every kind: in this buffer Eglot's one server is opencode-lsp, so every action is ours.
  (eglot-code-actions beg end nil t))

(defun opencode-eglot-run-command (command arguments)
  "Run any COMMAND the server offers, with ARGUMENTS as JSON (empty for none)."
  (interactive
   (let ((command (completing-read "OpenCode command: " (opencode-eglot-commands) nil t)))
     (list command (read-string (format "%s arguments (JSON object, empty for none): " command)))))
  (let* ((args (unless (string-empty-p (string-trim arguments))
                 (vector (json-parse-string arguments :object-type 'plist
                                            :null-object nil :false-object :json-false))))
         (result (opencode-eglot-execute command args)))
    (when result
      (message "%s: %s" command (json-serialize result :null-object nil
                                                :false-object :json-false)))))

(defun opencode-eglot-show-answer ()
  "Show the whole last answer (the message shows only its start)."
  (interactive)
  (unless opencode-eglot-answers
    (user-error "No answer from OpenCode yet"))
  (with-current-buffer (get-buffer-create "*OpenCode answer*")
    (let ((inhibit-read-only t))
      (erase-buffer)
      (insert (car opencode-eglot-answers)))
    (goto-char (point-min))
    (special-mode)
    (display-buffer (current-buffer))))

(defvar opencode-eglot-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "a") #'opencode-eglot-ask)
    (define-key map (kbd "o") #'opencode-eglot-code-actions)
    (define-key map (kbd "c") #'opencode-eglot-run-command)
    (define-key map (kbd "r") #'opencode-eglot-show-answer)
    (define-key map (kbd "v") #'opencode-eglot-conversation)
    map)
  "Keys for opencode-lsp; bind it to a prefix, e.g. C-c o.")

;;;; What the bridge sends: status for the mode line, the whole answer

(defun opencode-eglot-mode-line ()
  "The mode-line text: \"OpenCode: busy\" and the status message, or nil."
  (when-let ((state (plist-get opencode-eglot-status :state)))
    (let ((message (plist-get opencode-eglot-status :message)))
      (truncate-string-to-width
       (concat " OpenCode: " state (if (stringp message) (concat " · " message) ""))
       60 nil nil "…"))))

(add-to-list 'global-mode-string '(:eval (opencode-eglot-mode-line)) t)

(cl-defmethod eglot-handle-notification
  (_server (_method (eql opencode/status)) &key state message sessionID &allow-other-keys)
  "Keep the bridge's status for the mode line."
  (setq opencode-eglot-status (list :state state :message message :sessionID sessionID))
  (force-mode-line-update t))

(cl-defmethod eglot-handle-notification :before
  (server (_method (eql window/logMessage)) &key type message &allow-other-keys)
  "opencode-lsp logs each whole answer (type 3); keep it for `opencode-eglot-show-answer'."
  (when (and (eql type 3) (stringp message) (opencode-eglot--ours-p server))
    (push message opencode-eglot-answers)))

;;;; Prompts, diffs and edits: native for opencode-lsp only

(cl-defmethod eglot-client-capabilities ((_server opencode-eglot-server))
  "Eglot's capabilities, and window/showDocument: this file opens what the bridge shows."
  (let ((capabilities (cl-call-next-method)))
    (plist-put capabilities :window
               (append '(:showDocument (:support t)) (plist-get capabilities :window)))))

(cl-defmethod eglot-handle-request
  ((_server opencode-eglot-server) (_method (eql window/showMessageRequest))
   &key message actions &allow-other-keys)
  "Ask in the minibuffer with nothing pre-filled, so TAB lists every choice.
C-g (or an answer that is no choice) leaves the request pending: the bridge then says
where to answer it (its diagnostic, `C-c o o')."
  (let* ((titles (mapcar (lambda (action) (plist-get action :title)) actions))
         (choice (condition-case nil
                     (completing-read (concat message "\nChoose (TAB lists all, C-g: later): ")
                                      titles nil t)
                   ;; Not out of the process filter: Eglot would never answer the request
                   ;; and would leave the bridge's next messages (the diagnostic) unread.
                   (quit nil))))
    (if (member choice titles) (list :title choice) nil)))   ; nil: JSON null

(cl-defmethod eglot-handle-request
  ((server opencode-eglot-server) (_method (eql window/showDocument))
   &key uri external takeFocus selection &allow-other-keys)
  "Show URI: a file (the proposed change, a .diff, opens in diff-mode), or a web page.
Without the focus it is the session's conversation: beside the selected window, which
stays selected, and managed by this server although it is outside the project."
  (if (eq external t)
      (browse-url uri)
    (let ((buffer (if (eq takeFocus t)
                      (find-file-noselect (opencode-eglot--path uri))
                    ;; Not the server Eglot binds while it handles this request: that would
                    ;; make Eglot open the document (twice, on Emacs 28) before we do.
                    (let ((eglot--cached-server nil))
                      (find-file-noselect (opencode-eglot--path uri))))))
      (if (eq takeFocus t)
          (pop-to-buffer buffer)
        (opencode-eglot--attach-conversation server buffer)
        (opencode-conversation-display buffer))
      (when-let ((start (plist-get selection :start)))
        (with-current-buffer buffer
          (goto-char (eglot--lsp-position-to-point start))))))
  '(:success t))

;;;; The conversation document (opencode-conversation.el)

(defun opencode-eglot--attach-conversation (server buffer)
  "Make SERVER manage BUFFER, the conversation (Eglot would not: it is outside the
project, in another mode), so it gets the bridge's edits and its code actions."
  (with-current-buffer buffer
    (opencode-conversation-mode 1)
    (setq opencode-conversation-send-function #'opencode-eglot-send)
    (unless (and eglot--managed-mode (eq (eglot-current-server) server))
      (setq eglot--cached-server server)
      (eglot--maybe-activate-editing-mode))))

(defun opencode-eglot--attach-conversation-file (folder)
  "The conversation of FOLDER opened as a file: its opencode-lsp server manages it."
  (let ((root (file-name-as-directory (expand-file-name folder))))
    (when-let ((server (cl-find-if
                        (lambda (server)
                          (and (opencode-eglot--ours-p server)
                               (equal (file-name-as-directory
                                       (expand-file-name (project-root (eglot--project server))))
                                      root)))
                        (apply #'append (hash-table-values eglot--servers-by-project)))))
      (opencode-eglot--attach-conversation server (current-buffer))
      t)))

(add-hook 'opencode-conversation-attach-functions #'opencode-eglot--attach-conversation-file)

(defun opencode-eglot-conversation ()
  "Open this session's conversation beside the code (the bridge shows it)."
  (interactive)
  (opencode-eglot-execute "opencode.session.open"))

(defun opencode-eglot-send ()
  "Send the prompt area at the end of this conversation (the code action OpenCode: Send)."
  (interactive)
  (eglot--signal-textDocument/didChange) ; what you just typed, before the bridge reads it
  (opencode-eglot-execute "opencode.session.send"
                          (vector (list :uri (plist-get (eglot--TextDocumentIdentifier) :uri)))))

(defun opencode-eglot--path (uri)
  "The file of URI (Eglot 1.16+ names its function `eglot-uri-to-path')."
  (if (fboundp 'eglot-uri-to-path)
      (eglot-uri-to-path uri)
    (with-no-warnings (eglot--uri-to-path uri))))

(defun opencode-eglot--edited-files (edit)
  "The files the WorkspaceEdit EDIT changes."
  (append (mapcar (lambda (change)
                    (opencode-eglot--path (plist-get (plist-get change :textDocument) :uri)))
                  (plist-get edit :documentChanges))
          (cl-loop for (uri _edits) on (plist-get edit :changes) by #'cddr
                   collect (opencode-eglot--path uri))))

(defun opencode-eglot--same-as-file-p ()
  "Whether the current buffer's text is its file's text."
  (let ((text (save-restriction (widen) (buffer-substring-no-properties (point-min) (point-max))))
        (file buffer-file-name))
    (and file (file-readable-p file)
         (with-temp-buffer
           (insert-file-contents file)
           (string= text (buffer-string))))))

(defvar eglot-confirm-server-edits)     ; Eglot 1.16+ (Emacs 30)

(cl-defmethod eglot-handle-request
  ((_server opencode-eglot-server) (_method (eql workspace/applyEdit))
   &key edit &allow-other-keys)
  "Apply the bridge's edit of open buffers without a question, and keep them in step
with their files.  The bridge edits only open buffers: to bring in the agent's change,
which is on disk already (merged with your unsaved text), or one you chose.  So the
buffer takes the file's current modification time first (no \"changed on disk\"
question, now or when you save), and a buffer whose text is then its file's is
unmodified.  An edit of a file that is not open is refused (the disk has it)."
  (let ((buffers (mapcar #'find-buffer-visiting (opencode-eglot--edited-files edit))))
    (if (memq nil buffers)
        '(:applied :json-false :failureReason "The file is not open in Emacs.")
      (let ((modtimes (mapcar (lambda (buffer)
                                (with-current-buffer buffer
                                  (prog1 (visited-file-modtime) (set-visited-file-modtime))))
                              buffers)))
        (condition-case err
            (prog1 (let ((following (mapcan #'opencode-conversation-following buffers)))
                     (prog1 (with-suppressed-warnings ((obsolete eglot-confirm-server-initiated-edits))
                     (let ((eglot-confirm-server-initiated-edits nil) ; Eglot 1.9
                           (eglot-confirm-server-edits nil))           ; Eglot 1.16+
                       (cl-call-next-method)))
                       (opencode-conversation-follow following)
                       ;; The bridge streams the next edit once it has this one's
                       ;; didChange: send it now, not when Emacs is next idle.
                       (dolist (buffer buffers)
                         (with-current-buffer buffer
                           (when opencode-conversation-mode
                             (eglot--signal-textDocument/didChange))))))
              (dolist (buffer buffers)
                (with-current-buffer buffer
                  (when (opencode-eglot--same-as-file-p)
                    (set-buffer-modified-p nil)))))
          (error                        ; e.g. a stale version: the bridge plans again
           (cl-mapc (lambda (buffer modtime)
                      (with-current-buffer buffer (set-visited-file-modtime modtime)))
                    buffers modtimes)
           (signal (car err) (cdr err))))))))

(load (expand-file-name "opencode-selection" (file-name-directory (or load-file-name buffer-file-name))) nil t) ; the region as the TUI's context
(load (expand-file-name "opencode-conversation" (file-name-directory (or load-file-name buffer-file-name))) nil t) ; the conversation document

(provide 'opencode-eglot)
;;; opencode-eglot.el ends here
