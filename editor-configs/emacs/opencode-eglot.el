;;; opencode-eglot.el --- opencode-lsp with Eglot -*- lexical-binding: t; -*-

;; Eglot is built into Emacs 29+; on Emacs 28 install it (Debian: apt install elpa-eglot,
;; or M-x package-install RET eglot).  Load this file from your init file:
;;
;;   (load "/path/to/opencode-eglot.el")
;;   (global-set-key (kbd "C-c o") opencode-eglot-command-map)
;;
;; then M-x eglot in a project file.  Every setting: docs/configuration.md.
;;
;; Eglot runs one language server per buffer: in `opencode-eglot-modes' opencode-lsp takes
;; the place of your usual server (pylsp, …).  To keep both, use lsp-mode
;; (opencode-lsp-mode.el), which runs opencode-lsp as an add-on server.

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'eglot)

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

(defun opencode-eglot--contact (&optional _interactive)
  "The `eglot-server-programs' entry: the program, then its settings."
  (append opencode-eglot-program
          (list :initializationOptions
                (or opencode-eglot-initialization-options (make-hash-table)))))

(add-to-list 'eglot-server-programs
             (cons opencode-eglot-modes #'opencode-eglot--contact))

;;;; Talking to the bridge

(defun opencode-eglot--ours-p (server)
  "Whether SERVER is opencode-lsp (by the serverInfo of its initialize result)."
  (equal (plist-get (ignore-errors (eglot--server-info server)) :name) "opencode-lsp"))

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
  "The OpenCode code actions (Explain, Review, …) on the region BEG..END."
  (interactive (eglot--region-bounds))
  (eglot-code-actions beg end "refactor.opencode" t))

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

(load (expand-file-name "opencode-selection" (file-name-directory (or load-file-name buffer-file-name))) nil t) ; the region as the TUI's context
(provide 'opencode-eglot)
;;; opencode-eglot.el ends here
